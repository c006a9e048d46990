//! `sdw-lab`: boots the emulated hardware lab once (see `hardware-tests/lab/run` and docs/lab.md) and prints
//! `STATUS`, `EXIT`, `ENTRY` (installed mode), `VOLUME`, `FILE` and `LEFTOVER` lines. Exit 0 when the guest
//! ran; 2 when the lab failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sdw_hardware_tests::lab::{self, EntryPoint, Installed, RunSpec, Stick, TcryptVerify};

/// Boot the QEMU lab with emulated USB sticks and run `sdw-devices ARCHIVE` inside.
#[derive(Parser, Debug)]
#[command(name = "sdw-lab")]
struct Args {
    /// A raw stick image: IMAGE[:SERIAL[:ro]] (repeatable; serials default to LABSTICK1, LABSTICK2...).
    #[arg(long = "stick")]
    sticks: Vec<String>,
    /// The archive to run `sdw-devices` on (omit to only boot, run scripts and verify).
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Pull the first stick this many seconds after `sdw-devices` started, or as soon as a guest script
    /// prints `@@LAB:PULL@@` to /dev/console (it is put back before verifying).
    #[arg(long)]
    hotplug_remove_after: Option<f64>,
    /// Guest shell script (file) run before `sdw-devices`; `lab_dev SERIAL` prints a stick's /dev/sdX.
    #[arg(long)]
    guest_script: Option<PathBuf>,
    /// Guest shell command run before `sdw-devices` (appended to --guest-script).
    #[arg(long)]
    shell_command: Vec<String>,
    /// Guest shell command run after `sdw-devices`, before the verifier.
    #[arg(long)]
    after_command: Vec<String>,
    /// Put a file into the guest: SOURCE:ABSOLUTE_GUEST_PATH (repeatable).
    #[arg(long = "extra-file")]
    extra_files: Vec<String>,
    /// The verifier's passphrase (default: the archive's encryption_key).
    #[arg(long)]
    passphrase: Option<String>,
    /// VeraCrypt PIM for the verifier.
    #[arg(long)]
    pim: Option<u32>,
    /// How the verifier tries signature-less volumes as TrueCrypt/VeraCrypt: fast (PBKDF2-SHA512 + AES
    /// only: VeraCrypt's defaults and the fixtures'; also spelled truecrypt or veracrypt), auto (every
    /// hash and cipher: minutes under TCG when the guess is wrong), none.
    #[arg(long, default_value = "fast")]
    tcrypt: String,
    /// The device binary (default: sdw-devices beside this program; with --installed: the package's, unless
    /// given, then it replaces /usr/bin/sdw-devices in the installed system).
    #[arg(long)]
    devices_binary: Option<PathBuf>,
    /// Boot a Debian 12 system (mmdebstrap) with DIR/sdw-devices_*.deb installed by apt and a Qubes-like
    /// `user`, and open the archive as `user` through the package's entry point (--via).
    #[arg(long, value_name = "DIR")]
    installed: Option<PathBuf>,
    /// With --installed: `mime` (the MIME default's desktop entry, as qubes.OpenInVM) or `qrexec-service`
    /// (/etc/qubes-rpc/securedrop.Export with the archive on stdin).
    #[arg(long, value_name = "ENTRY", requires = "installed")]
    via: Option<String>,
    /// With --installed: leave out /etc/sudoers.d/qubes (the template's passwordless root), so only the
    /// package's own sudoers drop-in lets `user` reach root.
    #[arg(long, requires = "installed")]
    no_passwordless_root: bool,
    /// Guest memory, MiB.
    #[arg(long)]
    memory: Option<u32>,
    /// Kill sdw-devices in the guest after this many seconds (the verifier still runs).
    #[arg(long, default_value_t = 300)]
    devices_timeout: u64,
    /// Give up on the whole boot after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Keep the run's files (console.log, results) in this directory.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Also print the guest's script output and sdw-devices' stderr (to stderr).
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdw-lab: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sticks = args
        .sticks
        .iter()
        .enumerate()
        .map(|(i, s)| Stick::parse(s, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut script = match &args.guest_script {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => String::new(),
    };
    for c in &args.shell_command {
        script.push_str(c);
        script.push('\n');
    }
    let after: String = args
        .after_command
        .iter()
        .map(|c| format!("{c}\n"))
        .collect();
    let extra_files = args
        .extra_files
        .iter()
        .map(|e| match e.rsplit_once(':') {
            Some((src, dest)) if dest.starts_with('/') && !src.is_empty() => {
                Ok((PathBuf::from(src), dest.to_string()))
            }
            _ => Err(lab::LabError::BadExtraFile(e.clone())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tcrypt = match args.tcrypt.as_str() {
        "auto" => TcryptVerify::Auto,
        // truecrypt / veracrypt: one cryptsetup call tries both flavours; kept as names for "fast".
        "fast" | "truecrypt" | "veracrypt" => TcryptVerify::Fast,
        "none" => TcryptVerify::None,
        other => return Err(format!("bad --tcrypt {other:?}").into()),
    };
    let via = match args.via.as_deref() {
        None | Some("mime") => EntryPoint::MimeDefault,
        Some("qrexec-service") => EntryPoint::QrexecService,
        Some(other) => return Err(format!("bad --via {other:?}: mime or qrexec-service").into()),
    };
    let installed = args.installed.map(|packages| Installed {
        packages,
        via,
        passwordless_root: !args.no_passwordless_root,
    });
    let spec = RunSpec {
        sticks,
        archive: args.archive,
        passphrase: args.passphrase,
        pim: args.pim,
        tcrypt,
        hotplug_remove_after: args.hotplug_remove_after.map(Duration::from_secs_f64),
        guest_script: (!script.is_empty()).then_some(script),
        after_script: (!after.is_empty()).then_some(after),
        extra_files,
        devices_binary: args.devices_binary,
        installed,
        memory_mib: args.memory,
        devices_timeout: Some(Duration::from_secs(args.devices_timeout)),
        timeout: Some(Duration::from_secs(args.timeout)),
        keep_dir: args.keep,
    };
    let report = lab::run(&spec)?;
    if args.verbose {
        eprintln!("--- guest script ---\n{}", report.guest_script_log);
        eprintln!("--- after script ---\n{}", report.after_script_log);
        eprintln!(
            "--- sdw-devices stderr (exit {:?}) ---\n{}",
            report.exit_code, report.stderr
        );
        eprintln!("--- sdw-devices stdout ---\n{}", report.stdout);
        eprintln!("--- sdw-devices log ---\n{}", report.devices_log);
        eprintln!("--- {:.1} s ---", report.elapsed.as_secs_f64());
    }
    print!("{}", report.render());
    Ok(())
}
