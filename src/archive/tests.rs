//! The archive rules as a specification: what is accepted, what is refused.

use std::io::Write;

use sdw_protocol::Status;
use tar::EntryType;

use super::*;
use crate::testkit::ArchiveBuilder;

const DISK: &str = r#"{"device":"disk","encryption_key":"pw"}"#;

fn inspect_bytes(bytes: &[u8]) -> Result<Inspected, ArchiveError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    Archive::open(file.path())?.inspect()
}

fn refusal(builder: ArchiveBuilder) -> ArchiveError {
    inspect_bytes(&builder.gzip()).unwrap_err()
}

#[test]
fn accepts_the_flat_layout() {
    let got = inspect_bytes(
        &ArchiveBuilder::with_metadata(DISK)
            .dir("export_data")
            .file("export_data/a.txt", b"hello")
            .gzip(),
    )
    .unwrap();
    assert!(matches!(
        got.command,
        Command::Disk {
            passphrase: Some(_)
        }
    ));
    assert_eq!(
        got.plan.members,
        [PlannedMember::File {
            path: "a.txt".into(),
            size: 5
        }]
    );
    assert_eq!(got.plan.total_bytes, 5);
}

#[test]
fn accepts_the_nested_layout_with_leading_dot_slash_and_unicode() {
    let got = inspect_bytes(
        &ArchiveBuilder::new()
            .dir("./")
            .file("./metadata.json", DISK.as_bytes())
            .dir("./export_data/")
            .dir("./export_data/Quelle 1/")
            .file("./export_data/Quelle 1/Übersicht.pdf", b"%PDF")
            .file("./export_data/Quelle 1/文件.txt", b"x")
            .gzip(),
    )
    .unwrap();
    assert_eq!(
        got.plan.members,
        [
            PlannedMember::Dir("Quelle 1".into()),
            PlannedMember::File {
                path: "Quelle 1/Übersicht.pdf".into(),
                size: 4
            },
            PlannedMember::File {
                path: "Quelle 1/文件.txt".into(),
                size: 1
            },
        ]
    );
}

#[test]
fn recognises_compression_by_content_not_name() {
    let builder = || ArchiveBuilder::with_metadata(DISK).file("export_data/a", b"1");
    for (bytes, compression) in [
        (builder().tar(), Compression::None),
        (builder().gzip(), Compression::Gzip),
        (builder().bzip2(), Compression::Bzip2),
    ] {
        let mut file = tempfile::Builder::new()
            .suffix(".sd-export")
            .tempfile()
            .unwrap();
        file.write_all(&bytes).unwrap();
        let archive = Archive::open(file.path()).unwrap();
        assert_eq!(archive.compression(), compression);
        assert_eq!(archive.inspect().unwrap().plan.total_bytes, 1);
    }
}

#[test]
fn accepts_long_unicode_names() {
    let name = format!("export_data/{}.txt", "ü".repeat(100));
    let got = inspect_bytes(&ArchiveBuilder::with_metadata(DISK).file(&name, b"x").gzip()).unwrap();
    assert_eq!(got.plan.file_count(), 1);
}

#[test]
fn refuses_absolute_names() {
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file("/etc/cron.d/evil", b"x")),
        ArchiveError::AbsolutePath(_)
    ));
}

#[test]
fn refuses_parent_dir_components() {
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file("export_data/../../evil", b"x")),
        ArchiveError::ParentDir(_)
    ));
}

#[test]
fn refuses_symlink_outside_root() {
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).symlink("export_data/l", "../../etc/passwd")),
        ArchiveError::LinkOutsideRoot(_)
    ));
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).symlink("export_data/l", "/etc/passwd")),
        ArchiveError::LinkOutsideRoot(_)
    ));
}

#[test]
fn refuses_hardlink_outside_root() {
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).hardlink("export_data/l", "../etc/shadow")),
        ArchiveError::LinkOutsideRoot(_)
    ));
}

#[test]
fn refuses_links_inside_root_too() {
    assert!(matches!(
        refusal(
            ArchiveBuilder::with_metadata(DISK)
                .file("export_data/a", b"x")
                .symlink("export_data/l", "a")
        ),
        ArchiveError::Link(_)
    ));
}

#[test]
fn refuses_device_nodes_fifos_and_other_types() {
    let with = |kind| ArchiveBuilder::with_metadata(DISK).raw(b"export_data/x", kind, b"", b"");
    assert!(matches!(
        refusal(with(EntryType::Char)),
        ArchiveError::DeviceNode(_)
    ));
    assert!(matches!(
        refusal(with(EntryType::Block)),
        ArchiveError::DeviceNode(_)
    ));
    assert!(matches!(
        refusal(with(EntryType::Fifo)),
        ArchiveError::Fifo(_)
    ));
    let sparse = refusal(with(EntryType::GNUSparse));
    assert!(
        matches!(
            sparse,
            ArchiveError::UnsupportedType { .. } | ArchiveError::Corrupt(_)
        ),
        "{sparse:?}"
    );
    assert!(matches!(
        refusal(with(EntryType::new(b'Z'))),
        ArchiveError::UnsupportedType { .. }
    ));
}

#[test]
fn refuses_hostile_members_outside_export_data_as_well() {
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).symlink("other", "/")),
        ArchiveError::LinkOutsideRoot(_)
    ));
}

#[test]
fn refuses_a_bad_member_late_in_the_archive() {
    let mut builder = ArchiveBuilder::with_metadata(DISK);
    for i in 0..50 {
        builder = builder.file(&format!("export_data/{i}.txt"), b"fine");
    }
    assert!(matches!(
        refusal(builder.file("../late", b"x")),
        ArchiveError::ParentDir(_)
    ));
}

#[test]
fn refuses_duplicates_and_file_folder_clashes() {
    assert!(matches!(
        refusal(
            ArchiveBuilder::with_metadata(DISK)
                .file("export_data/a", b"1")
                .file("export_data/a", b"2")
        ),
        ArchiveError::Duplicate(_)
    ));
    assert!(matches!(
        refusal(
            ArchiveBuilder::with_metadata(DISK)
                .file("export_data/a", b"1")
                .file("export_data/a/b", b"2")
        ),
        ArchiveError::Duplicate(_)
    ));
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file("export_data", b"1")),
        ArchiveError::Duplicate(_)
    ));
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file("metadata.json", b"{}")),
        ArchiveError::Duplicate(_)
    ));
}

#[test]
fn metadata_must_be_a_present_regular_file() {
    assert_eq!(
        refusal(ArchiveBuilder::new().file("export_data/a", b"1")),
        ArchiveError::MetadataMissing
    );
    assert_eq!(
        refusal(ArchiveBuilder::new().dir("metadata.json")),
        ArchiveError::MetadataNotRegular
    );
    assert_eq!(
        refusal(ArchiveBuilder::new().symlink("metadata.json", "export_data/a")),
        ArchiveError::MetadataNotRegular
    );
}

#[test]
fn metadata_errors_keep_their_protocol_status() {
    let status = |json: &str| match refusal(ArchiveBuilder::with_metadata(json)) {
        ArchiveError::Metadata(e) => e.status(),
        other => panic!("{other:?}"),
    };
    assert_eq!(status("not json"), Status::ErrorMetadataParsing);
    assert_eq!(
        status(r#"{"device":"floppy"}"#),
        Status::ErrorArchiveMetadata
    );
}

#[test]
fn refuses_garbage_empty_and_truncated_input() {
    assert!(matches!(
        inspect_bytes(b"definitely not a tar archive").unwrap_err(),
        ArchiveError::Empty | ArchiveError::Corrupt(_)
    ));
    assert_eq!(inspect_bytes(b"").unwrap_err(), ArchiveError::Empty);
    let whole = ArchiveBuilder::with_metadata(DISK)
        .file("export_data/a", &[7u8; 5000])
        .tar();
    assert!(matches!(
        inspect_bytes(&whole[..3000]).unwrap_err(),
        ArchiveError::Corrupt(_)
    ));
    let gz = ArchiveBuilder::with_metadata(DISK)
        .file("export_data/a", &[7u8; 5000])
        .gzip();
    assert!(matches!(
        inspect_bytes(&gz[..gz.len() / 2]).unwrap_err(),
        ArchiveError::Corrupt(_)
    ));
}

#[test]
fn reports_a_missing_archive_as_not_found() {
    assert!(matches!(
        Archive::open(Path::new("/nonexistent/x.sd-export")),
        Err(ArchiveError::NotFound(_))
    ));
}

#[test]
fn pass_two_streams_exactly_the_planned_members() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(
        &ArchiveBuilder::with_metadata(DISK)
            .file("ignored-top-level", b"zz")
            .dir("export_data/s")
            .file("export_data/s/a", b"abc")
            .gzip(),
    )
    .unwrap();
    let archive = Archive::open(file.path()).unwrap();
    let plan = archive.inspect().unwrap().plan;
    let mut seen = Vec::new();
    archive
        .for_each_export_member(&plan, |member| -> Result<(), ArchiveError> {
            match member {
                ExportMember::Dir(d) => seen.push(format!("dir {d}")),
                ExportMember::File { path, data, .. } => {
                    let mut s = String::new();
                    data.read_to_string(&mut s).unwrap();
                    seen.push(format!("file {path} {s}"));
                }
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, ["dir s", "file s/a abc"]);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The oracle: a name is acceptable iff it is UTF-8 without control
    /// characters, not absolute, has no `..` component and fits the limits.
    fn oracle_accepts(name: &str) -> bool {
        !name.starts_with('/')
            && !name.chars().any(char::is_control)
            && !name.split('/').any(|c| c == "..")
            && name.len() <= MAX_NAME_BYTES
            && name.split('/').all(|c| c.len() <= MAX_COMPONENT_BYTES)
    }

    proptest! {
        #[test]
        fn member_names_match_the_oracle(name in "(\\.\\./|\\./|/|[a-zé\\n]{1,3}/?){0,6}") {
            let accepted = MemberPath::parse(name.as_bytes()).is_ok();
            prop_assert_eq!(accepted, oracle_accepts(&name), "{:?}", name);
        }

        #[test]
        fn generated_archives_are_accepted_iff_every_name_is(names in proptest::collection::vec("(\\.\\./|/)?[a-z]{1,4}(/\\.\\.)?", 1..6)) {
            let mut builder = ArchiveBuilder::with_metadata(DISK);
            let mut unique = std::collections::BTreeSet::new();
            for name in &names {
                let full = format!("export_data/{name}");
                prop_assume!(unique.insert(full.clone()));
                builder = builder.file(&full, b"x");
            }
            let expect_ok = names.iter().all(|n| !n.contains(".."));
            let got = inspect_bytes(&builder.tar());
            prop_assert_eq!(got.is_ok(), expect_ok, "{:?} -> {:?}", names, got.err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            fuzzing::inspect_bytes(&bytes);
        }
    }
}
