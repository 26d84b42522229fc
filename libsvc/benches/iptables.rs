//! iptables mode on generated clusters: 1k and 10k services × 10 endpoints
//! (IPv4, NodePort every tenth service). Reports the time to build the
//! model, to print it, and the whole render (with the JSON model), and
//! prints the size of the output (bytes, lines) once per cluster.

mod common;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libsvc::proxy::iptables::{render::restore_text, rulesets};
use libsvc::render::{Mode, RenderOptions, render};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("iptables");
    g.sample_size(10);
    for services in [1_000, 10_000] {
        let loaded = common::cluster(services, 10, Default::default());
        let text = render(&loaded, Mode::Iptables, &RenderOptions::default())
            .expect("renders")
            .text;
        println!(
            "iptables {services} services x 10 endpoints: {} bytes, {} lines",
            text.len(),
            text.lines().count()
        );
        // The model alone, its text alone, and the whole render (model,
        // text and the model as JSON for `-o json`).
        g.bench_with_input(BenchmarkId::new("build", services), &loaded, |b, l| {
            b.iter(|| rulesets(l))
        });
        let sets = rulesets(&loaded);
        g.bench_with_input(BenchmarkId::new("text", services), &sets, |b, s| {
            b.iter(|| {
                s.iter()
                    .map(|rs| restore_text(rs, false))
                    .collect::<Vec<_>>()
            })
        });
        g.bench_with_input(BenchmarkId::new("render", services), &loaded, |b, l| {
            b.iter(|| render(l, Mode::Iptables, &RenderOptions::default()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
