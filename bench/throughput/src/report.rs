//! The table and the JSON line.

use crate::measure::{median, Timed};
use crate::runs::{Compare, EngineResult};
use serde_json::{json, Value};

fn secs(v: &[Timed]) -> Vec<f64> {
    v.iter()
        .map(|t| (t.seconds * 1000.0).round() / 1000.0)
        .collect()
}

fn med(v: &[Timed]) -> f64 {
    median(&v.iter().map(|t| t.seconds).collect::<Vec<_>>())
}

/// The bare pipeline with the fastest median: (label, median).
fn fastest(c: &Compare) -> (String, f64) {
    c.bare
        .iter()
        .map(|(l, v)| (l.clone(), med(v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or_default()
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn compare_json(c: &Compare) -> Value {
    let (reference, bare) = fastest(c);
    let cairn = med(&c.cairn);
    json!({
        "bare": c.bare.iter().map(|(l, v)| json!({"pipeline": l, "seconds": secs(v), "median": med(v),
            "peak_rss_tools_kib": v.iter().map(|t| t.peaks.tools_kib).max().unwrap_or(0)})).collect::<Vec<_>>(),
        "cairn_seconds": secs(&c.cairn),
        "cairn_median": cairn,
        "cairn_cpu_seconds": c.cairn.iter().map(|t| (t.cairn_cpu * 100.0).round() / 100.0).collect::<Vec<_>>(),
        "reference": reference,
        "ratio": cairn / bare,
        "peak_rss_cairn_kib": c.cairn.iter().map(|t| t.peaks.cairn_kib).max().unwrap_or(0),
        "peak_rss_cairn_tools_kib": c.cairn.iter().map(|t| t.peaks.tools_kib).max().unwrap_or(0),
        "local_disk_written_bytes": c.cairn_disk,
    })
}

fn row(op: &str, c: &Compare, keys: Option<u64>) {
    let (reference, bare) = fastest(c);
    let cairn = med(&c.cairn);
    let rate = keys
        .map(|k| {
            format!(
                "  ({:.0} vs {:.0} keys/s)",
                k as f64 / cairn,
                k as f64 / bare
            )
        })
        .unwrap_or_default();
    for (label, v) in &c.bare {
        println!(
            "  {op:<8} bare {label:<28} median {:>8.2} s  runs {:?}  tools peak {:>6.1} MiB",
            med(v),
            secs(v),
            mib(v.iter().map(|t| t.peaks.tools_kib).max().unwrap_or(0))
        );
    }
    println!(
        "  {op:<8} cairn {:<27} median {cairn:>8.2} s  runs {:?}  cairn peak {:>6.1} MiB, its tools {:>6.1} MiB, local disk {} B, cairn CPU {:.1} s",
        "",
        secs(&c.cairn),
        mib(c.cairn.iter().map(|t| t.peaks.cairn_kib).max().unwrap_or(0)),
        mib(c.cairn.iter().map(|t| t.peaks.tools_kib).max().unwrap_or(0)),
        c.cairn_disk,
        median(&c.cairn.iter().map(|t| t.cairn_cpu).collect::<Vec<_>>())
    );
    println!(
        "  {op:<8} ratio cairn / {reference}: {:.3}{rate}",
        cairn / bare
    );
}

pub fn print(
    results: &[EngineResult],
    hwm_kib: u64,
    load_before: &str,
    load_after: &str,
    runs: usize,
) {
    println!();
    println!("cairn-bench: {runs} run(s) each, alternating; load average before {load_before}, after {load_after}");
    for r in results {
        println!(
            "{} — {} ({} {})",
            r.engine,
            r.dataset,
            r.size,
            if r.keys.is_some() {
                "keys"
            } else {
                "bytes on disk"
            }
        );
        row("backup", &r.backup, None);
        row("restore", &r.restore, r.keys);
        println!(
            "  stored   bare {} B, cairn {} B, ratio {:.3}",
            r.stored_bare,
            r.stored_cairn,
            r.stored_cairn as f64 / r.stored_bare as f64
        );
    }
    println!(
        "cairn up peak RSS over the whole run (VmHWM): {:.1} MiB",
        mib(hwm_kib)
    );
    let engines: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut e = json!({
                "engine": r.engine,
                "dataset": r.dataset,
                "size": r.size,
                "backup": compare_json(&r.backup),
                "restore": compare_json(&r.restore),
                "stored_bytes": {"bare": r.stored_bare, "cairn": r.stored_cairn,
                                  "ratio": r.stored_cairn as f64 / r.stored_bare as f64},
            });
            if let Some(k) = r.keys {
                e["restore"]["cairn_keys_per_second"] = json!(k as f64 / med(&r.restore.cairn));
            }
            e
        })
        .collect();
    println!(
        "{}",
        json!({
            "bench": "cairn-throughput",
            "runs": runs,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cairn_up_peak_rss_kib": hwm_kib,
            "engines": engines,
        })
    );
}
