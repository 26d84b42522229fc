//! iptables mode on generated clusters: 1k and 10k services × 10 endpoints
//! (IPv4, NodePort every tenth service). Reports the time to build the
//! model, to print it, and the whole render (with the JSON model), and
//! prints the size of the output (bytes, lines) once per cluster.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use libsvc::proxy::iptables::{render::restore_text, rulesets};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Loaded, Overrides, load};
use std::fmt::Write;

/// `services` Services in 10 namespaces, each with one EndpointSlice of
/// `endpoints` ready endpoints.
fn cluster(services: usize, endpoints: usize) -> Loaded {
    let mut y = String::new();
    for i in 0..services {
        let (ns, name) = (format!("ns{}", i % 10), format!("svc{i}"));
        let ip = format!("172.30.{}.{}", i / 250, i % 250 + 1);
        let np = if i % 10 == 0 {
            format!(
                "\n  type: NodePort\n  ports: [{{name: http, port: 80, nodePort: {}}}]",
                30000 + i / 10
            )
        } else {
            "\n  ports: [{name: http, port: 80}]".to_string()
        };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  clusterIP: {ip}{np}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints:\n"
        );
        for e in 0..endpoints {
            let n = i * endpoints + e;
            let _ = writeln!(
                y,
                "- addresses: [10.{}.{}.{}]",
                n >> 16 & 255,
                n >> 8 & 255,
                n & 255
            );
        }
    }
    y.push_str("---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.0.0.0/8\n");
    let o = Overrides {
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        service_cidrs: vec!["172.30.0.0/16".parse().expect("literal CIDR")],
        node_ips: vec!["192.168.0.2".parse().expect("literal IP")],
        ..Default::default()
    };
    load(&[Input::new("bench.yaml", y)], &o)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("iptables");
    g.sample_size(10);
    for services in [1_000, 10_000] {
        let loaded = cluster(services, 10);
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
