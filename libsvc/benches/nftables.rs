//! nftables render at scale: 1k and 10k Services × 10 endpoints, from the
//! loaded ServiceTable to the `nft -f` text (time; throughput in bytes of
//! rendered text) — whole and in parts (build the model, write the text) —
//! plus the trace of one packet (which builds the model first).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use libsvc::proxy::nftables;
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use libsvc::{Input, Overrides, load};
use std::fmt::Write;

/// `n` ClusterIP/NodePort Services (every fourth a NodePort) with one
/// port and 10 ready endpoints each, spread over 10 nodes.
fn cluster(n: usize) -> libsvc::Loaded {
    let mut s = String::new();
    let mut k = 0usize;
    for i in 0..n {
        let node_port = if i % 4 == 0 {
            format!(", nodePort: {}", 30000 + i % 2700)
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc{i}, namespace: ns{}}}\nspec:\n  type: {}\n  clusterIP: 10.96.{}.{}\n  ports: [{{name: http, port: 80{node_port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: svc{i}-1, namespace: ns{}, labels: {{kubernetes.io/service-name: svc{i}}}}}\naddressType: IPv4\nendpoints:\n",
            i % 20,
            if i % 4 == 0 { "NodePort" } else { "ClusterIP" },
            i / 250,
            i % 250 + 1,
            i % 20,
        );
        for e in 0..10 {
            let _ = writeln!(
                s,
                "- addresses: [10.{}.{}.{}]\n  nodeName: node-{e}",
                1 + k / 62500,
                (k / 250) % 250,
                k % 250 + 1
            );
            k += 1;
        }
        let _ = writeln!(s, "ports: [{{name: http, port: 8080}}]");
    }
    let overrides = Overrides {
        service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
        ip_family: libsvc::config::IpFamily::parse("IPv4"),
        node_name: Some("node-0".into()),
        ..Default::default()
    };
    load(&[Input::new("bench.yaml", s)], &overrides)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nftables");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        let loaded = cluster(n);
        let text = nftables::render(&loaded, &Default::default())
            .expect("nftables renders")
            .text;
        eprintln!(
            "nftables: {n} services x 10 endpoints -> {} bytes, {} lines",
            text.len(),
            text.lines().count()
        );
        g.throughput(Throughput::Bytes(text.len() as u64));
        // The whole render: model, text and the model as JSON.
        g.bench_with_input(BenchmarkId::new("render", n), &loaded, |b, l| {
            b.iter(|| {
                nftables::render(l, &Default::default())
                    .expect("nftables renders")
                    .text
                    .len()
            })
        });
        // Its parts: ServiceTable → model, model → text.
        g.bench_with_input(BenchmarkId::new("build", n), &loaded, |b, l| {
            b.iter(|| nftables::ruleset(l).0.tables.len())
        });
        let (rules, _) = nftables::ruleset(&loaded);
        g.bench_with_input(BenchmarkId::new("text", n), &rules, |b, r| {
            b.iter(|| r.to_string().len())
        });
        let packet = Packet {
            src: "10.0.0.2".parse().unwrap(),
            dst: "10.96.0.1".parse().unwrap(),
            port: 80,
            protocol: Protocol::TCP,
        };
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("trace", n), &loaded, |b, l| {
            b.iter(|| {
                nftables::trace(l, &packet)
                    .expect("nftables traces")
                    .endpoints
                    .len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
