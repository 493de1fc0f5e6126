//! `passenger-config system-metrics`: CPU and memory of this machine, laid out like
//! the original's report (sections General, CPU, Memory).

use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::exit;
use crate::output;

/// Display system metrics: kernel, uptime, load, CPU usage and memory.
#[derive(clap::Args, Debug, Clone)]
pub struct SystemMetricsArgs {}

const MB: u64 = 1024 * 1024;

/// Runs `system-metrics`.
pub fn run(_args: &SystemMetricsArgs) -> anyhow::Result<i32> {
    let mut sys = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::everything()),
    )
    .map_err(|err| anyhow::anyhow!("cannot read the system metrics: {err}"))?;
    // CPU usage is a difference between two samples.
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    sys.refresh_cpu_usage();
    output::print(&render(&sys))?;
    Ok(exit::OK)
}

fn render(sys: &System) -> String {
    let load = System::load_average().ok();
    let mut out = String::from("------------- General -------------\n");
    out.push_str(&format!(
        "Kernel version    : {}\n",
        System::kernel_version().unwrap_or_else(|_| "unknown".into())
    ));
    out.push_str(&format!(
        "Uptime            : {}\n",
        passenger_core::admin::pool_text::duration_words(System::uptime().unwrap_or(0))
    ));
    match load {
        Some(l) => out.push_str(&format!(
            "Load averages     : {:.2}, {:.2}, {:.2}\n",
            l.one, l.five, l.fifteen
        )),
        None => out.push_str("Load averages     : unknown\n"),
    }
    out.push_str("Fork rate         : unknown\n\n");

    out.push_str("------------- CPU -------------\n");
    let cpus = sys.cpus();
    out.push_str(&format!("Number of CPUs    : {:>4}\n", cpus.len()));
    out.push_str(&format!(
        "Average CPU usage : {:>3.0}%\n",
        sys.global_cpu_usage()
    ));
    for (i, cpu) in cpus.iter().enumerate() {
        out.push_str(&format!(
            "  {:<16}: {:>3.0}%\n",
            format!("CPU {}", i + 1),
            cpu.usage()
        ));
    }
    out.push('\n');

    out.push_str("------------- Memory -------------\n");
    let pct = |used: u64, total: u64| (used * 100).checked_div(total).unwrap_or(0);
    let (total, used, free) = (
        sys.total_memory(),
        sys.used_memory(),
        sys.available_memory(),
    );
    let (stotal, sused, sfree) = (sys.total_swap(), sys.used_swap(), sys.free_swap());
    out.push_str(&format!("RAM total         : {:>6} MB\n", total / MB));
    out.push_str(&format!(
        "RAM used          : {:>6} MB ({}%)\n",
        used / MB,
        pct(used, total)
    ));
    out.push_str(&format!("RAM free          : {:>6} MB\n", free / MB));
    out.push_str(&format!("Swap total        : {:>6} MB\n", stotal / MB));
    out.push_str(&format!(
        "Swap used         : {:>6} MB ({}%)\n",
        sused / MB,
        pct(sused, stotal)
    ));
    out.push_str(&format!("Swap free         : {:>6} MB\n\n", sfree / MB));
    out
}
