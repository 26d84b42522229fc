//! nftables render at scale: 1k and 10k Services × 10 endpoints (every
//! fourth a NodePort, endpoints on 10 nodes), from the
//! loaded ServiceTable to the `nft -f` text (time; throughput in bytes of
//! rendered text) — whole and in parts (build the model, write the text) —
//! plus the trace of one packet (which builds the model first).

mod common;

use common::Shape;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use libsvc::proxy::nftables;
use libsvc::table::Protocol;
use libsvc::trace::Packet;

/// Every fourth Service a NodePort; endpoints spread over 10 nodes.
const SHAPE: Shape = Shape {
    node_port_every: 4,
    nodes: 10,
};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nftables");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        let loaded = common::cluster(n, 10, SHAPE);
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
            in_interface: None,
            src: "10.0.0.2".parse().unwrap(),
            dst: "172.30.0.1".parse().unwrap(),
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
