//! `sdw-admin`: the command line.
//!
//! Owns argument parsing, wiring the library together for each command, what
//! is printed, and the one place where a result becomes an exit code.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use thiserror::Error;

use sdw_provision::admin::{Admin, AdminError, Qrexec, QUBESD_SOCKET};
use sdw_provision::apply::{apply, ApplyError, Target};
use sdw_provision::check::check;
use sdw_provision::desktop::{self, Desktop, DesktopError};
use sdw_provision::files::{self, FileError};
use sdw_provision::inqube::{AptKey, AptKeyError, PackageSource};
use sdw_provision::live::{Live, ProbeError};
use sdw_provision::notify;
use sdw_provision::packages::{self, PackageError};
use sdw_provision::plan::{plan, FileState, Plan};
use sdw_provision::runner::{QubeRunner, QvmRun, Recorder};
use sdw_provision::topology::{topology, Topology};
use sdw_provision::validate::{key_path, validate, ValidationError, CONFIG_DIR};

#[derive(Debug, Parser)]
#[command(
    name = "sdw-admin",
    version,
    about = "Provision SecureDrop Workstation in Qubes OS 4.3 dom0",
    after_help = "The spellings of SecureDrop Workstation's sdw-admin.py and its updater are accepted too: \
                  `sdw-admin --apply`, `--validate`, `--uninstall`, `--check`, `--update` and `--configure` are the commands above, \
                  with the same options."
)]
pub struct Cli {
    /// More logging (-v: each change, -vv: each Admin API call).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Validate config.json and sd-journalist.sec.
    Validate {
        /// Folder holding config.json and sd-journalist.sec.
        #[arg(default_value = CONFIG_DIR)]
        dir: PathBuf,
        #[command(flatten)]
        qubesd: QubesdArgs,
    },
    /// Guided first run: ask for each value of config.json and the submission key,
    /// re-asking until the answer is valid, then write and validate the folder.
    Configure {
        /// Folder to write config.json and sd-journalist.sec to.
        #[arg(long, default_value = CONFIG_DIR)]
        config: PathBuf,
        #[command(flatten)]
        qubesd: QubesdArgs,
    },
    /// Show the changes that would converge the system.
    Plan {
        #[command(flatten)]
        common: Common,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        runner: RunnerArgs,
    },
    /// Carry out the plan (idempotent: a second apply changes nothing).
    Apply {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        runner: RunnerArgs,
    },
    /// Verify the live system against the topology and list the drift.
    Check {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        runner: RunnerArgs,
    },
    /// Update dom0, then every template in dependency order; restart the qubes of a changed template.
    Update {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON (progress still goes to stderr).
        #[arg(long)]
        json: bool,
        /// Do nothing when the last successful update is less than HOURS old (the login
        /// autostart passes 8, upstream's interval).
        #[arg(long, value_name = "HOURS")]
        unless_updated_within: Option<u64>,
        #[command(flatten)]
        runner: RunnerArgs,
    },
    /// Remind the desktop user with a notification when the last successful update is more
    /// than 5 days old (run every 2 h by the sdw-notify.timer user unit apply --gui-user installs).
    Notify {
        #[command(flatten)]
        qubesd: QubesdArgs,
    },
    /// Print the target topology for this configuration (no qubesd needed).
    Topology {
        /// Folder holding config.json and sd-journalist.sec.
        #[arg(long, default_value = CONFIG_DIR)]
        config: PathBuf,
        /// Armored public key of the FPF apt repository [default: CONFIG/apt-signing-key.asc].
        #[arg(long)]
        apt_key: Option<PathBuf>,
        /// Show the layout for a persistent (AppVM) sys-usb instead of a disposable one.
        #[arg(long)]
        persistent_sys_usb: bool,
        /// Show our packages as taken from this folder of built packages.
        #[arg(long, value_name = "DIR")]
        packages: Option<PathBuf>,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove every SecureDrop Workstation qube, tag, policy and flag.
    Uninstall {
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
        /// Root of the dom0 file system for the files to remove.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// dom0's GUI user whose update launcher and login autostart are removed too, and whose
        /// Xfce settings are reset (in their running desktop session).
        #[arg(long, value_name = "USER")]
        gui_user: Option<String>,
        #[command(flatten)]
        qubesd: QubesdArgs,
        #[command(flatten)]
        runner: RunnerArgs,
    },
}

#[derive(Debug, Args)]
struct QubesdArgs {
    /// qubesd's Admin API socket (dom0).
    #[arg(long, default_value = QUBESD_SOCKET)]
    qubesd_socket: PathBuf,
    /// Call the Admin API with qrexec-client-vm (from a management qube) instead of the socket.
    #[arg(long, conflicts_with = "qubesd_socket")]
    qrexec: bool,
}

impl QubesdArgs {
    fn admin(&self) -> Admin {
        if self.qrexec {
            Admin::new(Box::new(Qrexec::default()))
        } else {
            Admin::local(&self.qubesd_socket)
        }
    }
}

#[derive(Debug, Args)]
struct Common {
    /// Folder holding config.json and sd-journalist.sec.
    #[arg(long, default_value = CONFIG_DIR)]
    config: PathBuf,
    /// Root of the dom0 file system for the files apply writes (policies, flags).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Armored public key of the FPF apt repository [default: CONFIG/apt-signing-key.asc].
    #[arg(long)]
    apt_key: Option<PathBuf>,
    /// Install sdw-devices and sdw-client from this folder of built packages (the newest
    /// NAME_VERSION_amd64.deb of each, e.g. target/packages) instead of by name from the
    /// apt repository. Pass the same folder to plan and check.
    #[arg(long, value_name = "DIR")]
    packages: Option<PathBuf>,
    /// dom0's GUI user: put the `sdw-admin update` launcher on their desktop (marked trusted)
    /// and in their login autostart, and set SecureDrop Workstation's Xfce settings in their
    /// running desktop session (icon size; outside dev, no suspend/hibernate/log out).
    #[arg(long, value_name = "USER")]
    gui_user: Option<String>,
    #[command(flatten)]
    qubesd: QubesdArgs,
}

#[derive(Debug, Args)]
struct RunnerArgs {
    /// Record the commands meant for qubes (JSON lines) in FILE instead of running them with
    /// qvm-run; probes inside qubes (installed versions, groups) are answered from what FILE recorded.
    #[arg(long, value_name = "FILE")]
    record_qube_commands: Option<PathBuf>,
}

impl RunnerArgs {
    fn runner(&self) -> Box<dyn QubeRunner> {
        match &self.record_qube_commands {
            Some(path) => Box::new(Recorder::new(path)),
            None => Box::new(QvmRun),
        }
    }
}

#[derive(Debug, Error)]
enum CliError {
    #[error("Error while validating configuration: {0}")]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("cannot read the apt signing key {path}: {source}")]
    AptKeyRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("apt signing key {path}: {source}")]
    AptKey { path: PathBuf, source: AptKeyError },
    #[error("{0}")]
    File(#[from] FileError),
    #[error("{0}")]
    Packages(#[from] PackageError),
    #[error("{0}")]
    Probe(#[from] ProbeError),
    #[error("{0}")]
    Apply(#[from] ApplyError),
    #[error("cannot converge:\n{0}")]
    Blocked(String),
    #[error("{0} drifted from the SecureDrop Workstation topology")]
    Drift(String),
    #[error("uninstall removes every SecureDrop Workstation qube and its data; confirm on a terminal or pass --force")]
    NotConfirmed,
    #[error("with --qrexec this runs in a management qube, which cannot write dom0's files: pass --root DIR to stage the policies and flags, and install them in dom0 yourself")]
    QrexecNeedsRoot,
    #[error("{0}")]
    Update(#[from] sdw_provision::update::UpdateError),
    #[error("the update failed: {0}")]
    UpdateFailed(String),
    #[error("{0}")]
    Desktop(#[from] DesktopError),
    #[error("{0}")]
    Configure(#[from] crate::configure::ConfigureError),
    #[error("cannot show the reminder with {NOTIFY_SEND}: {0}")]
    Notify(String),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The spellings of SecureDrop Workstation's `sdw-admin.py` (and its updater) for our commands.
const SPELLINGS: &[(&str, &str)] = &[
    ("--apply", "apply"),
    ("--validate", "validate"),
    ("--uninstall", "uninstall"),
    ("--check", "check"),
    ("--update", "update"),
    ("--configure", "configure"),
];

/// Rewrites `sdw-admin [-v] --apply ...` to `sdw-admin [-v] apply ...`: only the
/// word in the command's place (after the program and any `-v`/`--verbose`).
pub fn normalise_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let is_verbose = |a: &OsString| {
        a == "--verbose"
            || a.to_str()
                .and_then(|a| a.strip_prefix('-'))
                .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b == b'v'))
    };
    if let Some(word) = args.iter_mut().skip(1).find(|a| !is_verbose(a)) {
        if let Some((_, command)) = SPELLINGS.iter().find(|(s, _)| *word == **s) {
            *word = OsString::from(command);
        }
    }
    args
}

pub fn run() -> ExitCode {
    let cli = Cli::parse_from(normalise_args(std::env::args_os()));
    init_logging(cli.verbose);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdw-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Everything a converging command needs, validated.
struct Context {
    admin: Admin,
    topology: Topology,
    live: Live,
    files: Vec<FileState>,
    stale_files: Vec<String>,
    root: PathBuf,
}

/// Our packages: from `--packages DIR`, or by name from the repository.
fn package_source(dir: Option<&Path>) -> Result<PackageSource, CliError> {
    let Some(dir) = dir else {
        return Ok(PackageSource::Repository);
    };
    let folder = packages::find(dir)?;
    for p in [&folder.devices, &folder.client] {
        eprintln!(
            "sdw-admin: {} {} from {} (sha256 {})",
            p.name,
            p.version,
            p.path.display(),
            p.sha256
        );
    }
    Ok(PackageSource::Folder(Box::new(folder)))
}

fn context(common: &Common, runner: &mut dyn QubeRunner) -> Result<Context, CliError> {
    if common.qubesd.qrexec && common.root == Path::new("/") {
        return Err(CliError::QrexecNeedsRoot);
    }
    let source = package_source(common.packages.as_deref())?;
    let admin = common.qubesd.admin();
    let validated = validate(&common.config, Some(&admin))?;
    if !validated.key_cross_checked {
        eprintln!(
            "sdw-admin: warning: {} not found, the submission key was not cross-checked",
            sdw_provision::validate::GPG
        );
    }
    let apt_key = read_apt_key(&common.config, common.apt_key.as_deref())?;
    let mut live = Live::read(&admin)?;
    let mut topology = topology(&validated.config, live.layout(), &apt_key, &source);
    live.probe_inside(&topology, runner, &admin)?;
    let env = validated.config.environment();
    let secret_key = absolute(&key_path(&common.config));
    let mut desired = files::desired(env, &secret_key, apt_key.text());
    if let Some(user) = &common.gui_user {
        let desktop = Desktop::new(user, env)?;
        desired.extend(desktop.files());
        topology.desktop = Some(desktop);
    }
    let files = desired
        .into_iter()
        .map(|file| FileState {
            current: files::is_current(&common.root, &file),
            file,
        })
        .collect();
    Ok(Context {
        admin,
        topology,
        live,
        files,
        stale_files: files::stale(&common.root, env),
        root: common.root.clone(),
    })
}

fn read_apt_key(config: &Path, explicit: Option<&Path>) -> Result<AptKey, CliError> {
    let path = explicit.map_or_else(|| config.join("apt-signing-key.asc"), Path::to_owned);
    let text = std::fs::read_to_string(&path).map_err(|source| CliError::AptKeyRead {
        path: path.clone(),
        source,
    })?;
    AptKey::parse(&text).map_err(|source| CliError::AptKey { path, source })
}

fn print_topology(topology: &Topology) {
    for q in &topology.qubes {
        let template = q
            .template
            .as_deref()
            .map_or(String::new(), |t| format!(" on {t}"));
        println!(
            "{} ({}{template}, label {}, {:?})",
            q.name,
            q.class.as_str(),
            q.label,
            q.owner
        );
        if !q.tags.is_empty() {
            println!("    tags: {}", q.tags.join(" "));
        }
        for (prop, value) in &q.prefs {
            match value {
                sdw_provision::topology::Pref::Set(v) if v.is_empty() => {
                    println!("    {prop} = None")
                }
                sdw_provision::topology::Pref::Set(v) => println!("    {prop} = {v}"),
                sdw_provision::topology::Pref::Default => println!("    {prop} = (default)"),
            }
        }
        for (feature, value) in &q.features {
            match value {
                sdw_provision::topology::Feature::Set(v) => {
                    println!("    feature {feature} = {v:?}")
                }
                sdw_provision::topology::Feature::Absent => {
                    println!("    feature {feature} absent")
                }
            }
        }
        if let Some(bytes) = q.private_size {
            println!(
                "    private volume {} GiB",
                bytes / sdw_provision::config::GIB
            );
        }
        if let Some(config) = &q.configure {
            println!(
                "    in-qube: {} ({} commands)",
                config.purpose,
                config.commands(&q.name).len()
            );
        }
    }
    let globals: Vec<String> = topology
        .global
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("dom0: {}", globals.join(" "));
    println!("must not exist: {}", topology.obsolete.join(" "));
}

/// Days since 1970-01-01, UTC.
fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn print_plan(plan: &Plan) {
    if plan.steps.is_empty() {
        println!("No changes: the system matches the SecureDrop Workstation topology.");
    } else {
        println!("{} changes:", plan.steps.len());
        for step in &plan.steps {
            println!("  {step}");
        }
    }
    if !plan.blockers.is_empty() {
        println!("Blocked:");
        for b in &plan.blockers {
            println!("  {b}");
        }
    }
}

fn blockers(plan: &Plan) -> Result<(), CliError> {
    if plan.blockers.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = plan.blockers.iter().map(|b| format!("  {b}")).collect();
    Err(CliError::Blocked(list.join("\n")))
}

fn dispatch(command: Commands) -> Result<(), CliError> {
    match command {
        Commands::Validate { dir, qubesd } => {
            let admin = qubesd.admin();
            let use_admin = qubesd.qrexec || qubesd.qubesd_socket.exists();
            let v = validate(&dir, use_admin.then_some(&admin))?;
            if !v.key_cross_checked {
                println!(
                    "warning: {} not found: the submission key was only checked for its armor",
                    sdw_provision::validate::GPG
                );
            }
            if !v.volumes_checked {
                println!(
                    "note: {} not found: the live volume sizes were not checked",
                    qubesd.qubesd_socket.display()
                );
            }
            println!("Validating...OK");
            Ok(())
        }
        Commands::Configure { config, qubesd } => {
            let admin = qubesd.admin();
            let use_admin = qubesd.qrexec || qubesd.qubesd_socket.exists();
            crate::configure::configure(&config, use_admin.then_some(&admin))?;
            Ok(())
        }
        Commands::Plan {
            common,
            json,
            runner,
        } => {
            let ctx = context(&common, runner.runner().as_mut())?;
            let plan = plan(&ctx.topology, &ctx.live, &ctx.files, &ctx.stale_files);
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print_plan(&plan);
            }
            blockers(&plan)
        }
        Commands::Apply { common, runner } => {
            let mut runner = runner.runner();
            let ctx = context(&common, runner.as_mut())?;
            let plan = plan(&ctx.topology, &ctx.live, &ctx.files, &ctx.stale_files);
            blockers(&plan)?;
            print_plan(&plan);
            let mut target = Target {
                admin: &ctx.admin,
                runner: runner.as_mut(),
                root: &ctx.root,
            };
            let applied = apply(&plan, &mut target)?;
            println!("Applied {applied} changes.");
            Ok(())
        }
        Commands::Check {
            common,
            json,
            runner,
        } => {
            let ctx = context(&common, runner.runner().as_mut())?;
            let mut policy_text = String::new();
            for path in [files::POLICY_ALLOW_PATH, files::POLICY_DENY_PATH] {
                policy_text.push_str(&files::read(&ctx.root, path)?.unwrap_or_default());
                policy_text.push('\n');
            }
            let report = check(&ctx.topology, &ctx.live, &ctx.files, &policy_text, today());
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.drift.is_empty() {
                println!("OK: {} checks passed, no drift.", report.checks);
            } else {
                println!(
                    "Drift ({} of {} checks failed):",
                    report.drift.len(),
                    report.checks
                );
                for d in &report.drift {
                    println!("  {d}");
                }
            }
            if report.drift.is_empty() {
                Ok(())
            } else {
                Err(CliError::Drift(format!("{} items", report.drift.len())))
            }
        }
        Commands::Update {
            common,
            json,
            unless_updated_within,
            runner,
        } => {
            if let Some(hours) = unless_updated_within {
                let features = common
                    .qubesd
                    .admin()
                    .features(sdw_provision::inqube::DOM0)?;
                let when = features
                    .get(notify::LAST_UPDATE_FEATURE)
                    .and_then(|t| notify::parse_utc(t));
                if let Some(ago) = when.and_then(|w| now_secs().checked_sub(w)) {
                    if ago < hours.saturating_mul(3600) {
                        println!(
                            "SecureDrop Workstation was updated {} hours ago (less than {hours}): nothing to do.",
                            ago / 3600
                        );
                        return Ok(());
                    }
                }
            }
            let mut runner = runner.runner();
            let ctx = context(&common, runner.as_mut())?;
            let mut progress = StderrProgress;
            let report = sdw_provision::update::update(
                &ctx.topology,
                &ctx.live,
                &ctx.admin,
                runner.as_mut(),
                &mut progress,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", sdw_provision::update::summary(&report));
            }
            if !report.failed() {
                // what `sdw-admin notify` reads (upstream's sdw-last-updated)
                ctx.admin.set_feature(
                    sdw_provision::inqube::DOM0,
                    notify::LAST_UPDATE_FEATURE,
                    &notify::format_utc(now_secs()),
                )?;
            }
            if report.failed() {
                return Err(CliError::UpdateFailed(
                    "see the report above; run `sdw-admin update` again".into(),
                ));
            }
            Ok(())
        }
        Commands::Notify { qubesd } => {
            let admin = qubesd.admin();
            let features = admin.features(sdw_provision::inqube::DOM0)?;
            let last = features.get(notify::LAST_UPDATE_FEATURE);
            // unknown uptime: treat the grace period as over
            let uptime = std::fs::read_to_string("/proc/uptime")
                .ok()
                .and_then(|t| notify::parse_uptime(&t))
                .unwrap_or(u64::MAX);
            match notify::decide(last.map(String::as_str), now_secs(), uptime) {
                notify::Decision::Warn { message } => {
                    println!("{message}");
                    show_reminder(&message)?;
                }
                notify::Decision::Recent { hours_ago } => {
                    println!("SecureDrop Workstation was updated {hours_ago} hours ago: no reminder.")
                }
                notify::Decision::GracePeriod { uptime_minutes } => println!(
                    "The last update is more than 5 days old, but the machine has been up for only {uptime_minutes} minutes: no reminder yet."
                ),
            }
            Ok(())
        }
        Commands::Topology {
            config,
            apt_key,
            persistent_sys_usb,
            packages,
            json,
        } => {
            let validated = validate(&config, None)?;
            let apt_key = read_apt_key(&config, apt_key.as_deref())?;
            let source = package_source(packages.as_deref())?;
            let layout = sdw_provision::topology::Layout {
                sys_usb_disposable: !persistent_sys_usb,
                ..sdw_provision::topology::Layout::default()
            };
            let topology = topology(&validated.config, layout, &apt_key, &source);
            if json {
                println!("{}", serde_json::to_string_pretty(&topology)?);
            } else {
                print_topology(&topology);
            }
            Ok(())
        }
        Commands::Uninstall {
            force,
            root,
            gui_user,
            qubesd,
            runner,
        } => {
            if qubesd.qrexec && root == Path::new("/") {
                return Err(CliError::QrexecNeedsRoot);
            }
            let admin = qubesd.admin();
            let live = Live::read(&admin)?;
            let mut remove = files::obsolete_present(&root);
            if let Some(user) = &gui_user {
                desktop::check_user(user)?;
                remove.push(files::launcher_path(user));
                remove.push(desktop::autostart_path(user));
                for unit in [notify::SERVICE_PATH, notify::TIMER_PATH] {
                    if files::under(&root, unit).exists() {
                        remove.push(unit.into());
                    }
                }
            }
            let mut plan = sdw_provision::uninstall::plan(&live, &remove);
            if let Some(user) = &gui_user {
                // the menu was trimmed unless the installed environment is dev
                let flag =
                    |env: &str| files::under(&root, &format!("{}/{env}", files::FLAG_DIR)).exists();
                let power_management = !flag("dev") || flag("prod") || flag("staging");
                let timer = files::under(&root, notify::TIMER_PATH).exists();
                // first: systemctl disables the timer while its unit file is still there
                let desktop = desktop::uninstall_steps(user, power_management, timer, &live);
                plan.steps.splice(0..0, desktop);
            }
            print_plan(&plan);
            if !force && !confirm()? {
                return Err(CliError::NotConfirmed);
            }
            let mut runner = runner.runner();
            let mut target = Target {
                admin: &admin,
                runner: runner.as_mut(),
                root: &root,
            };
            let applied = apply(&plan, &mut target)?;
            println!("Applied {applied} changes. The configuration folder (config.json, sd-journalist.sec) is left in place.");
            Ok(())
        }
    }
}

/// The desktop notification program (libnotify), found on PATH.
const NOTIFY_SEND: &str = "notify-send";

/// Shows `message` as a critical desktop notification in the user's session.
fn show_reminder(message: &str) -> Result<(), CliError> {
    let status = std::process::Command::new(NOTIFY_SEND)
        .args([
            "--app-name=SecureDrop Workstation",
            "--urgency=critical",
            "--icon=securedrop",
            "SecureDrop Workstation needs an update",
            message,
        ])
        .status()
        .map_err(|e| CliError::Notify(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Notify(status.to_string()))
    }
}

/// Seconds since 1970-01-01 UTC.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `[i/n] updating X` on stderr, so that `--json` stays clean on stdout.
struct StderrProgress;

impl sdw_provision::update::Progress for StderrProgress {
    fn step(&mut self, index: usize, total: usize, what: &str) {
        eprintln!("[{index}/{total}] {what}");
    }
}

fn confirm() -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(false);
    }
    print!("Remove all of the above? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    stdin.read_line(&mut answer).map_err(|e| {
        CliError::File(FileError::Read {
            path: "<stdin>".into(),
            source: e,
        })
    })?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalise_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_sdw_admin_py_spellings_become_commands_only_in_the_command_place() {
        assert_eq!(norm(&["sdw-admin", "--apply"]), ["sdw-admin", "apply"]);
        assert_eq!(
            norm(&["sdw-admin", "-vv", "--uninstall", "--force"]),
            ["sdw-admin", "-vv", "uninstall", "--force"]
        );
        assert_eq!(
            norm(&["sdw-admin", "--verbose", "--validate", "/x"]),
            ["sdw-admin", "--verbose", "validate", "/x"]
        );
        assert_eq!(norm(&["sdw-admin", "--check"]), ["sdw-admin", "check"]);
        // an option value or a later word is left alone
        assert_eq!(
            norm(&["sdw-admin", "plan", "--config", "--apply"]),
            ["sdw-admin", "plan", "--config", "--apply"]
        );
        assert_eq!(norm(&["sdw-admin", "--help"]), ["sdw-admin", "--help"]);
        assert_eq!(norm(&["sdw-admin"]), ["sdw-admin"]);
    }

    #[test]
    fn each_spelling_parses_as_its_command_with_the_same_options() {
        let parse =
            |args: &[&str]| Cli::try_parse_from(normalise_args(args.iter().map(OsString::from)));
        let apply = parse(&["sdw-admin", "--apply", "--config", "/c", "--packages", "/p"]);
        assert!(matches!(
            apply.map(|c| c.command),
            Ok(Commands::Apply { common, .. }) if common.config == Path::new("/c") && common.packages.as_deref() == Some(Path::new("/p"))
        ));
        let uninstall = parse(&["sdw-admin", "--uninstall", "--force"]);
        assert!(matches!(
            uninstall.map(|c| c.command),
            Ok(Commands::Uninstall { force: true, .. })
        ));
        let validate = parse(&["sdw-admin", "--validate"]);
        assert!(matches!(
            validate.map(|c| c.command),
            Ok(Commands::Validate { dir, .. }) if dir == Path::new(CONFIG_DIR)
        ));
        let check = parse(&["sdw-admin", "--check", "--json"]);
        assert!(matches!(
            check.map(|c| c.command),
            Ok(Commands::Check { json: true, .. })
        ));
    }
}
