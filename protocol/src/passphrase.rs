//! The export drive's passphrase: redacted in `Debug`, zeroed on drop, no
//! `Display`, `Clone` or `Serialize`, read only through [`Passphrase::expose_bytes`].

use zeroize::Zeroizing;

/// A secret passphrase from `metadata.json`'s `encryption_key`.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a secret, taking ownership so that no other copy is left behind.
    pub fn new(secret: String) -> Self {
        Passphrase(Zeroizing::new(secret))
    }

    /// The secret's bytes, for the one call that unlocks a volume.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text, for the client that writes it into `metadata.json`.
    pub fn expose_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase([REDACTED])")
    }
}

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        // Length leaks nothing the caller does not already hold both of.
        let (a, b) = (self.expose_bytes(), other.expose_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Passphrase::new("correct horse battery staple".to_owned());
        let shown = format!("{p:?} {p:#?}");
        assert!(!shown.contains("horse"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn exposes_the_exact_bytes() {
        let p = Passphrase::new("pässword".to_owned());
        assert_eq!(p.expose_bytes(), "pässword".as_bytes());
        assert_eq!(p, Passphrase::new("pässword".to_owned()));
        assert_ne!(p, Passphrase::new("password".to_owned()));
    }
}
