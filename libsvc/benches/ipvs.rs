//! IPVS mode at scale: 1k and 10k Services × 10 endpoints (every fourth a
//! NodePort, endpoints on 10 nodes), built
//! (ServiceTable → model) and rendered (model → every section's text).
//! Throughput is the rendered text's size, so the report shows bytes too.

mod common;

use common::Shape;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use libsvc::proxy::ipvs::{build, render};
use std::hint::black_box;

/// Every fourth Service a NodePort (2500 of 10k: the node-port range holds
/// no more than 2768); endpoints spread over 10 nodes.
const SHAPE: Shape = Shape {
    node_port_every: 4,
    nodes: 10,
};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipvs");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        let loaded = common::cluster(n, 10, SHAPE);
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
