//! The archive rules as a specification: what is accepted, what is refused.

use std::io::Write;

use sdw_protocol::Status;
use tar::EntryType;

use super::*;
use crate::status::Error;
use sdw_testkit::ArchiveBuilder;

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
        got.plan.members().collect::<Vec<_>>(),
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
        got.plan.members().collect::<Vec<_>>(),
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
        e @ ArchiveError::Metadata(_) => crate::status::Error::from(e).status(),
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

/// A gzip stream of `bytes` (one member).
fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn bz(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn small_tar() -> Vec<u8> {
    ArchiveBuilder::with_metadata(DISK)
        .file("export_data/a.txt", b"hello")
        .tar()
}

/// A PAX extended header record as POSIX spells it: `LEN key=value\n`,
/// LEN counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

#[test]
fn accepts_pax_names_as_python_tarfile_writes_them() {
    let name = "export_data/Übersicht – 文件.pdf";
    let got = inspect_bytes(
        &ArchiveBuilder::with_metadata(DISK)
            .raw(
                b"././@PaxHeader",
                EntryType::XHeader,
                b"",
                &pax_record("path", name),
            )
            .file("export_data/ascii-placeholder", b"%PDF")
            .gzip(),
    )
    .unwrap();
    assert_eq!(
        got.plan.members().collect::<Vec<_>>(),
        [PlannedMember::File {
            path: "Übersicht – 文件.pdf".into(),
            size: 4
        }]
    );
}

#[test]
fn refuses_extension_records_over_the_cap_before_reading_them() {
    let big = vec![b'a'; 1024 * 1024];
    for kind in [
        EntryType::GNULongName,
        EntryType::GNULongLink,
        EntryType::XHeader,
    ] {
        let error = refusal(
            ArchiveBuilder::with_metadata(DISK)
                .raw(b"././@LongLink", kind, b"", &big)
                .file("export_data/a", b"1"),
        );
        assert_eq!(
            error,
            ArchiveError::ExtensionTooLarge(MAX_EXTENSION_BYTES),
            "{kind:?}"
        );
    }
    // Records that fit are read: a long name of 4000 bytes is over the name
    // limit, not over the record cap.
    let long = format!("export_data/{}", vec!["n".repeat(200); 20].join("/"));
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file(&long, b"1")),
        ArchiveError::NameTooLong(_)
    ));
}

#[test]
fn refuses_an_endless_gnu_sparse_map() {
    let mut header = tar::Header::new_gnu();
    header.set_path("export_data/sparse").unwrap();
    header.set_entry_type(EntryType::GNUSparse);
    header.set_size(0);
    header.as_gnu_mut().unwrap().isextended[0] = 1;
    header.set_cksum();
    let mut tar = ArchiveBuilder::with_metadata(DISK).tar();
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(header.as_bytes());
    // Extension blocks of empty sparse entries, each saying another follows.
    let mut block = [0u8; 512];
    block[504] = 1;
    for _ in 0..4096 {
        tar.extend_from_slice(&block);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    assert_eq!(
        inspect_bytes(&gz(&tar)).unwrap_err(),
        ArchiveError::ExtensionTooLarge(MAX_EXTENSION_BYTES)
    );
}

#[test]
fn refuses_deep_trees_and_names_over_the_limits() {
    // 200 files, each 2,000 folders deep (the 3.4 KB archive that took 831 MB).
    let deep = vec!["a"; 2000].join("/");
    let mut builder = ArchiveBuilder::with_metadata(DISK);
    for i in 0..200 {
        builder = builder.file(&format!("export_data/{deep}/{i}"), b"x");
    }
    assert!(matches!(refusal(builder), ArchiveError::NameTooLong(_)));
    let too_deep = vec!["a"; MAX_DEPTH].join("/");
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file(&format!("export_data/{too_deep}"), b"x")),
        ArchiveError::NameTooDeep(_)
    ));
    let component = format!("export_data/{}", "c".repeat(MAX_COMPONENT_BYTES + 1));
    assert!(matches!(
        refusal(ArchiveBuilder::with_metadata(DISK).file(&component, b"x")),
        ArchiveError::NameTooLong(_)
    ));
}

#[test]
fn refuses_names_over_the_budget() {
    // Distinct 250-byte folders, each with a file: 8 MiB of names is reached
    // long before the member limit.
    let mut builder = ArchiveBuilder::with_metadata(DISK);
    for i in 0..(MAX_TREE_NAME_BYTES / 250 / 2 + 10) {
        builder = builder.file(&format!("export_data/{:0250}/{i:0250}", i), b"");
    }
    assert_eq!(refusal(builder), ArchiveError::NamesOverBudget);
}

#[test]
fn accepts_concatenated_gzip_members_and_tar_padding() {
    let tar = small_tar();
    let mut two = gz(&tar[..1024]);
    two.extend(gz(&tar[1024..]));
    assert_eq!(inspect_bytes(&two).unwrap().plan.total_bytes, 5);
    let mut padded = tar.clone();
    padded.resize(padded.len() + 9 * 1024, 0);
    assert_eq!(inspect_bytes(&gz(&padded)).unwrap().plan.total_bytes, 5);
    assert_eq!(inspect_bytes(&padded).unwrap().plan.total_bytes, 5);
    assert_eq!(inspect_bytes(&bz(&padded)).unwrap().plan.total_bytes, 5);
}

/// Damage anywhere in a gzip stream is found, after the last member too.
#[test]
fn refuses_damaged_gzip_streams() {
    let whole = gz(&small_tar());
    let n = whole.len();
    let mut bad_crc = whole.clone();
    bad_crc[n - 8] ^= 0xff;
    let mut bad_size = whole.clone();
    bad_size[n - 1] ^= 0xff;
    let cut_trailer = whole[..n - 4].to_vec();
    // A second member holding only zero padding, with a wrong CRC: all of it
    // comes after the tar end marker.
    let mut after_end = whole.clone();
    let mut padding = gz(&[0u8; 10240]);
    let p = padding.len();
    padding[p - 8] ^= 0x01;
    after_end.extend(padding);
    let mut garbage = whole.clone();
    garbage.extend_from_slice(b"appended");
    let mut zeros = whole.clone();
    zeros.extend_from_slice(&[0u8; 512]);
    for (name, bytes) in [
        ("bad crc", bad_crc),
        ("bad size", bad_size),
        ("cut trailer", cut_trailer),
        ("corrupt member after the end", after_end),
        ("trailing garbage", garbage),
        ("trailing zeros", zeros),
    ] {
        let error = inspect_bytes(&bytes).unwrap_err();
        assert!(
            matches!(error, ArchiveError::Corrupt(_)),
            "{name}: {error:?}"
        );
        assert_eq!(
            Error::from(error).status(),
            Status::ErrorExtraction,
            "{name}"
        );
    }
}

#[test]
fn refuses_damaged_bzip2_streams() {
    let mut padded = small_tar();
    padded.resize(padded.len() + 64 * 1024, 0);
    let whole = bz(&padded);
    let n = whole.len();
    let mut flipped = whole.clone();
    flipped[n / 2] ^= 0x10;
    let cut = whole[..n - 6].to_vec();
    let mut after_end = whole.clone();
    let mut padding = bz(&[0u8; 10240]);
    let p = padding.len();
    padding[p / 2] ^= 0x10;
    after_end.extend(padding);
    let mut garbage = whole.clone();
    garbage.extend_from_slice(b"appended");
    for (name, bytes) in [
        ("corrupt block", flipped),
        ("cut trailer", cut),
        ("corrupt stream after the end", after_end),
        ("trailing garbage", garbage),
    ] {
        let error = inspect_bytes(&bytes).unwrap_err();
        assert!(
            matches!(error, ArchiveError::Corrupt(_)),
            "{name}: {error:?}"
        );
        assert_eq!(
            Error::from(error).status(),
            Status::ErrorExtraction,
            "{name}"
        );
    }
}

#[test]
fn refuses_plain_tar_without_its_end_or_with_data_after_it() {
    let tar = small_tar();
    let no_end = tar[..tar.len() - 1024].to_vec();
    assert_eq!(
        inspect_bytes(&no_end).unwrap_err(),
        ArchiveError::NoEndMarker
    );
    let lone_zero_block = tar[..tar.len() - 512].to_vec();
    assert_eq!(
        inspect_bytes(&lone_zero_block).unwrap_err(),
        ArchiveError::NoEndMarker
    );
    let mut hidden = tar.clone();
    hidden.extend(
        ArchiveBuilder::with_metadata(DISK)
            .file("export_data/hidden", b"x")
            .tar(),
    );
    assert_eq!(
        inspect_bytes(&hidden).unwrap_err(),
        ArchiveError::TrailingData
    );
    assert_eq!(
        inspect_bytes(&gz(&hidden)).unwrap_err(),
        ArchiveError::TrailingData
    );
    let mut endless = tar.clone();
    endless.resize(tar.len() + MAX_PADDING_BYTES as usize + 1024, 0);
    assert_eq!(
        inspect_bytes(&gz(&endless)).unwrap_err(),
        ArchiveError::TrailingData
    );
}

/// The archive changing on disk between the passes is found in pass two,
/// even where only the last checksum changed.
#[test]
fn pass_two_checks_the_stream_to_its_end_too() {
    use std::os::unix::fs::FileExt;
    let bytes = ArchiveBuilder::with_metadata(DISK)
        .file("export_data/a", b"abc")
        .gzip();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    let archive = Archive::open(file.path()).unwrap();
    let plan = archive.inspect().unwrap().plan;
    let crc_at = bytes.len() as u64 - 8;
    file.as_file()
        .write_at(&[bytes[crc_at as usize] ^ 0xff], crc_at)
        .unwrap();
    let mut written = Vec::new();
    let error = archive
        .for_each_export_member(&plan, |member| -> Result<(), ArchiveError> {
            if let ExportMember::File { data, .. } = member {
                data.read_to_end(&mut written).unwrap();
            }
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(error, ArchiveError::Corrupt(_)), "{error:?}");
    assert_eq!(written, b"abc", "the data came before the damage");
}

#[test]
fn an_interrupt_stops_both_passes() {
    let bytes = ArchiveBuilder::with_metadata(DISK)
        .file("export_data/a", &[1u8; 100_000])
        .bzip2();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let archive = Archive::open(file.path()).unwrap().interrupted_by(&flag);
    let plan = archive.inspect().unwrap().plan;
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(archive.inspect().unwrap_err(), ArchiveError::Interrupted);
    let error = archive
        .for_each_export_member(&plan, |_| -> Result<(), ArchiveError> { Ok(()) })
        .unwrap_err();
    assert_eq!(error, ArchiveError::Interrupted);
    assert_eq!(Error::from(error).status(), Status::ErrorGeneric);
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
            && name
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .count()
                <= MAX_DEPTH
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
                // `export_data//w` names `export_data/w`: the same member twice.
                prop_assume!(unique.insert(full.replace("//", "/")));
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
