//! IPVS mode at scale: 1k and 10k NodePort Services × 10 endpoints, built
//! (ServiceTable → model) and rendered (model → every section's text).
//! Throughput is the rendered text's size, so the report shows bytes too.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use libsvc::proxy::ipvs::{build, render};
use libsvc::{Input, Overrides};
use std::fmt::Write;
use std::hint::black_box;

/// `n` Services in namespace `bench`, each with one EndpointSlice of 10
/// endpoints; the first 2700 are NodePort Services (the node-port range
/// holds no more), the rest ClusterIP.
fn manifests(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let (a, b) = (i / 250, i % 250);
        let (kind, node_port) = if i < 2700 {
            ("NodePort", format!(", nodePort: {}", 30000 + i))
        } else {
            ("ClusterIP", String::new())
        };
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: bench}}\nspec:\n  type: {kind}\n  clusterIP: 10.96.{a}.{b}\n  ports: [{{name: http, port: 80, targetPort: 8080{node_port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: svc-{i}-1, namespace: bench, labels: {{kubernetes.io/service-name: svc-{i}}}}}\naddressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints:\n"
        );
        for e in 0..10 {
            let _ = writeln!(
                out,
                "- {{addresses: [10.{}.{a}.{b}], nodeName: node-{e}}}",
                100 + e
            );
        }
        out.push_str("---\n");
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipvs");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        let overrides = Overrides {
            node_ips: vec!["192.168.0.2".parse().unwrap()],
            service_cidrs: vec!["10.96.0.0/16".parse().unwrap()],
            ..Default::default()
        };
        let loaded = libsvc::load(&[Input::new("bench.yaml", manifests(n))], &overrides);
        let rs = build::build(&loaded.table, &loaded.settings).unwrap();
        let bytes = render::text(&rs, None, false).len();
        eprintln!(
            "ipvs {n} services x 10 endpoints: {} virtual servers, {bytes} bytes rendered",
            rs.families
                .iter()
                .map(|f| f.virtual_servers.len())
                .sum::<usize>()
        );
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::new("build+render", n), &loaded, |b, l| {
            b.iter(|| {
                let rs = build::build(black_box(&l.table), &l.settings).unwrap();
                render::text(&rs, None, false)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
