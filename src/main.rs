use std::process::ExitCode;

use clap::Parser;
use quorum::interfaces::cli::{Cli, Command, run, settings};
use tracing_subscriber::fmt::format::FmtSpan;

/// sqlx's SQLite worker thread allocates every row value and the async thread frees it; glibc's
/// malloc serialises that hand-off on a lock. mimalloc frees across threads without one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Die quietly on a closed pipe (`quorum export --out - | head`) like other Unix tools,
    // instead of panicking in `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // Flags, then QUORUM_* variables, then the --config file, then defaults.
    let settings = match settings(&cli) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // A server logs every request (method, path, status, latency, request id, user id) when
    // its span closes; a command-line run only warns.
    let serving = matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Demo {
                no_serve: false,
                ..
            }
    );
    let default_filter = if serving {
        "info,quorum::store=warn,sqlx=warn"
    } else {
        "warn"
    };
    let filter = match settings.log_filter(default_filter) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(if serving {
            FmtSpan::CLOSE
        } else {
            FmtSpan::NONE
        })
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
