//! The emulated hardware lab and the real-laptop tests (being built: issue 3).
