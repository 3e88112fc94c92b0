//! `zk-bench`: see the library docs, or `zk-bench --help`.

use anyhow::Context;
use clap::Parser;
use zk_bench::{Args, BenchConfig, Stop, run};

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The messages of the library's errors already name their causes.
            eprintln!("zk-bench: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let args = Args::parse();
    let threads = args.threads;
    let config = BenchConfig::from_args(args)?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build().context("starting the tokio runtime")?;
    rt.block_on(async {
        let stop = Stop::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("zk-bench: interrupted; finishing the requests in flight");
                on_signal.trigger();
            }
        });
        let report = run(&config, stop).await?;
        print!("{}", report.table());
        if let Some(path) = &config.json {
            report.write_json(path)?;
            eprintln!("zk-bench: results written to {}", path.display());
        }
        Ok(())
    })
}
