//! The names of the properties in an XMP packet (for the report): the
//! attributes and child elements of each `rdf:Description`, read with
//! quick-xml. Values are never kept.

use std::collections::BTreeSet;

use quick_xml::events::Event;
use quick_xml::Reader;

/// At most this many names are listed; the rest are counted.
const MAX_NAMES: usize = 40;

/// `XMP (dc:creator, xmp:CreatorTool, ...)`, or `XMP` when the packet cannot
/// be read.
pub fn describe(packet: &[u8]) -> String {
    let names = property_names(packet);
    if names.is_empty() {
        return "XMP".into();
    }
    format!("XMP ({})", list(&names))
}

/// Joins names, cut after [`MAX_NAMES`].
pub fn list(names: &BTreeSet<String>) -> String {
    let mut shown: Vec<&str> = names.iter().take(MAX_NAMES).map(String::as_str).collect();
    let more = names.len().saturating_sub(MAX_NAMES);
    let tail = format!("and {more} more");
    if more > 0 {
        shown.push(&tail);
    }
    shown.join(", ")
}

fn property_names(packet: &[u8]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut reader = Reader::from_reader(packet);
    let mut depth_in_description: Option<usize> = None;
    let mut depth = 0usize;
    let mut buf = Vec::new();
    while let Ok(event) = reader.read_event_into(&mut buf) {
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(event, Event::Start(_));
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name.ends_with("Description") {
                    for attr in e.attributes().flatten() {
                        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                        if !key.starts_with("xmlns") && !key.starts_with("rdf:") {
                            names.insert(key);
                        }
                    }
                    if is_start {
                        depth_in_description = Some(depth);
                    }
                } else if depth_in_description.is_some_and(|d| depth == d + 1) {
                    names.insert(name);
                }
                if is_start {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth_in_description == Some(depth) {
                    depth_in_description = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        if names.len() > 4 * MAX_NAMES {
            break;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_properties_and_never_values() {
        let packet = br#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Secret Tool 1.0">
<dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Seq><rdf:li>Jane Source</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let described = describe(packet);
        assert_eq!(described, "XMP (dc:creator, xmp:CreatorTool)");
        assert!(!described.contains("Jane"));
        assert_eq!(describe(b"\xff\xfe garbage"), "XMP");
    }
}
