//! Reading a generated cluster: parse → validate → resolve, at 1k and 10k
//! Services × 10 endpoints, from one YAML stream and from `kubectl get -o
//! json`'s JSON. Prints the input size once per cluster. (Each stage apart,
//! and the renderers end to end: `benches/phases.rs`.)

mod common;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libsvc::{Input, load};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for services in [1_000, 10_000] {
        let yaml = common::cluster_yaml(services, 10, Default::default());
        println!(
            "load {services} services x 10 endpoints: {} bytes of YAML",
            yaml.len()
        );
        let overrides = common::overrides();
        g.bench_with_input(BenchmarkId::new("load", services), &yaml, |b, y| {
            b.iter(|| load(&[Input::new("bench.yaml", y.as_str())], &overrides))
        });
        let json = common::cluster_json(services, 10, Default::default());
        println!(
            "load {services} services x 10 endpoints: {} bytes of JSON",
            json.len()
        );
        g.bench_with_input(BenchmarkId::new("load-json", services), &json, |b, j| {
            b.iter(|| {
                load(
                    &[
                        Input::new("bench.json", j.as_str()),
                        Input::new("settings.yaml", common::SETTINGS_YAML),
                    ],
                    &overrides,
                )
            })
        });
    }
    g.finish();
}

/// 10,000 objects of kinds svcgen does not use (skipped: one summary line),
/// and 10,000 warnings rendered with their source lines — both linear.
fn skipped(c: &mut Criterion) {
    let mut g = c.benchmark_group("diagnostics");
    g.sample_size(10);
    let others: String = (0..10_000)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  a: \"1\"\n"))
        .collect();
    let overrides = common::overrides();
    g.bench_function("load 10000 skipped objects", |b| {
        b.iter(|| load(&[Input::new("others.yaml", others.as_str())], &overrides))
    });
    let typos: String = (0..10_000)
        .map(|i| format!("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s{i}\nspec:\n  ports:\n  - port: 80\n    targetport: 8080\n"))
        .collect();
    let inputs = [Input::new("typos.yaml", typos)];
    let loaded = load(&inputs, &overrides);
    g.bench_function("render 10000 warnings", |b| {
        b.iter(|| {
            let snippets = libsvc::diag::Snippets::new(&inputs);
            loaded
                .diagnostics
                .iter()
                .map(|d| snippets.render(d).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench, skipped);
criterion_main!(benches);
