//! The built-in test page of `printer-test`: a one-page PDF (A4) written here,
//! byte by byte, with a correct cross-reference table. Pure; no I/O.

/// The lines printed on the test page.
const LINES: [&str; 4] = [
    "SecureDrop Workstation",
    "Printer test page",
    "If you can read this, the printer attached to sd-printers works.",
    "Nothing from a submission is printed on this page.",
];

/// The PDF bytes of the test page.
pub fn pdf() -> Vec<u8> {
    let mut content = String::from("BT\n/F1 20 Tf\n72 760 Td\n");
    for (i, line) in LINES.iter().enumerate() {
        if i > 0 {
            content.push_str("0 -32 Td\n");
        }
        content.push_str(&format!("({}) Tj\n", escape(line)));
    }
    content.push_str("ET\n0.5 w 72 600 m 523 600 l S\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
         /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_page_is_a_pdf_with_a_valid_xref() {
        let pdf = pdf();
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        // Everything after the binary comment line is ASCII.
        let tail_start = pdf.iter().position(|&b| b == b'\n').unwrap() + 1;
        let tail_start =
            tail_start + pdf[tail_start..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let text = std::str::from_utf8(&pdf[tail_start..]).unwrap();
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(pdf[startxref..].starts_with(b"xref\n"));
        // Every object offset in the table points at "N 0 obj".
        let table = std::str::from_utf8(&pdf[startxref..]).unwrap();
        let entries: Vec<&str> = table.lines().skip(3).take(5).collect();
        assert_eq!(entries.len(), 5);
        for (n, line) in entries.iter().enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(pdf[offset..].starts_with(format!("{} 0 obj", n + 1).as_bytes()));
        }
        assert_eq!(
            sdw_protocol::printable::classify(&pdf),
            sdw_protocol::printable::Printable::Direct(sdw_protocol::printable::DirectKind::Pdf)
        );
    }
}
