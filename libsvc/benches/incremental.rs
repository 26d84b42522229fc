//! The incremental engine on a loaded cluster of 1k and 10k Services × 10
//! endpoints, one file per Service: one Service's file changes (an
//! endpoint goes, then comes back) → the new outputs and the delta of the
//! mode. The goal (issue 12) is ≤ 5 ms at 10k.

mod common;

use common::Shape;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libsvc::Input;
use libsvc::incremental::{Change, State};
use libsvc::render::{Mode, RenderOptions};

const SHAPE: Shape = Shape {
    node_port_every: 4,
    nodes: 10,
};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("incremental");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        for mode in [Mode::Nftables, Mode::Iptables] {
            let files = common::cluster_files(n, 10, SHAPE);
            let mut state = State::new(
                files,
                common::overrides(),
                &[mode],
                RenderOptions::default(),
            )
            .expect("builds");
            let k = n / 2;
            let versions = [
                common::service_yaml(k, 9, SHAPE),
                common::service_yaml(k, 10, SHAPE),
            ];
            let mut flip = 0;
            g.bench_function(
                BenchmarkId::new(format!("one-service-{}", mode.name()), n),
                |b| {
                    b.iter(|| {
                        flip ^= 1;
                        let input = Input::new(format!("svc{k}.yaml"), versions[flip].clone());
                        let u = state.apply(vec![Change::Put(input)]).expect("applies");
                        u.deltas.text(mode).len()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
