//! Reading a generated cluster: parse → validate → resolve, at 1k and 10k
//! Services × 10 endpoints. Prints the input size once per cluster.

mod common;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libsvc::{Input, load};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for services in [1_000, 10_000] {
        let yaml = common::cluster_yaml(services, 10);
        println!(
            "load {services} services x 10 endpoints: {} bytes of YAML",
            yaml.len()
        );
        let overrides = common::overrides();
        g.bench_with_input(BenchmarkId::new("load", services), &yaml, |b, y| {
            b.iter(|| load(&[Input::new("bench.yaml", y.as_str())], &overrides))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
