//! `sdw-lab-fixtures`: builds stick images for the lab from recipes (grammar: the `fixtures` module doc)
//! and prints their paths. `--out FILE` writes one image there; otherwise they go to the lab cache.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sdw_hardware_tests::fixtures::{self, Recipe};

/// Build lab stick images, e.g. `luks2-ext4`, `gpt:ext4@40,luks2-exfat,fat32`, `vera1-ext4`, `blank`.
#[derive(Parser, Debug)]
#[command(name = "sdw-lab-fixtures")]
struct Args {
    /// Recipes: [mbr:|gpt:]KIND[@MiB][,KIND[@MiB]...]; KIND: blank, random, ext4, fat32, exfat, ntfs,
    /// luks1-FS, luks2-FS, luks2argon-FS, vera-FS, veraN-FS (PIM N), true-FS; FS: ext4 fat32 exfat ntfs none.
    #[arg(required = true)]
    recipes: Vec<String>,
    /// The passphrase of encrypted volumes.
    #[arg(long, default_value = "correct horse battery staple")]
    passphrase: String,
    /// Write the (single) image here instead of the cache.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        if let Some(out) = &args.out {
            let [spec] = args.recipes.as_slice() else {
                return Err("--out takes exactly one recipe".into());
            };
            fixtures::build(&Recipe::parse(spec)?, &args.passphrase, out)?;
            println!("{}", out.display());
        } else {
            for spec in &args.recipes {
                println!("{}", fixtures::cached(spec, &args.passphrase)?.display());
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdw-lab-fixtures: {e}");
            ExitCode::from(2)
        }
    }
}
