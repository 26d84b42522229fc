//! `svcgen resolve`: answers as CoreDNS's kubernetes plugin computes them
//! on query (coredns/coredns v1.14: plugin/kubernetes/parse.go,
//! kubernetes.go, handler.go; plugin/backend_lookup.go). Each case names
//! the function whose rule it checks; the answers are one insta snapshot.

use libsvc::dns::{QueryType, resolve};
use libsvc::{Input, Overrides, load};
use std::fmt::Write;

const CLUSTER: &str = r#"
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: kubernetes}
spec: {cidrs: [10.96.0.0/16, "fd00::/108"]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIPs: [10.96.0.30, "fd00::30"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports:
  - {name: http, port: 80}
  - {port: 8080}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  ports:
  - {name: pg, port: 5432}
  - {name: metrics, port: 9187}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: shop
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports:
- {name: pg, port: 5432, protocol: TCP}
- {name: metrics, port: 9187, protocol: TCP}
endpoints:
- addresses: [10.244.0.10]
  hostname: db-0
- addresses: [10.244.0.11]
- addresses: [10.244.0.12]
  conditions: {ready: false}
---
apiVersion: v1
kind: Service
metadata: {name: raw, namespace: shop}
spec:
  clusterIP: None
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: raw-1
  namespace: shop
  labels: {kubernetes.io/service-name: raw}
addressType: IPv4
endpoints:
- addresses: [10.244.0.20]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec:
  type: ExternalName
  externalName: db.example.com
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: shop}
spec:
  type: ExternalName
  externalName: web.shop.svc.cluster.local
"#;

/// (the CoreDNS function whose rule the case checks, name, type)
const CASES: &[(&str, &str, &str)] = &[
    (
        "backend_lookup.go SRV: 2 cluster IPs x 2 ports = 4 items, weight floor(100/4); one record per target and port",
        "web.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "backend_lookup.go SRV: the named port on both cluster IPs, weight floor(100/2)",
        "_http._tcp.web.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "parse.go parseRequest + backend_lookup.go A: _port._proto names answer A queries",
        "_http._tcp.web.shop.svc.cluster.local.",
        "A",
    ),
    (
        "backend_lookup.go AAAA on a _port._proto name",
        "_http._tcp.web.shop.svc.cluster.local.",
        "AAAA",
    ),
    (
        "kubernetes.go matchPortAndProtocol: no port matches, NXDOMAIN",
        "_http._udp.web.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "kubernetes.go findServices (headless): 2 ready addresses x 2 ports, weight floor(100/4)",
        "db.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "kubernetes.go findServices (headless) + backend_lookup.go SRV: one port, weight floor(100/2)",
        "_pg._tcp.db.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "kubernetes.go findServices (headless) + backend_lookup.go A on a _port._proto name",
        "_pg._tcp.db.shop.svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go findServices: an endpoint name, its ports",
        "db-0.db.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "kubernetes.go findServices: an endpoint name under a Service with a cluster IP is looked up among its endpoints (none here): NXDOMAIN",
        "db-0.web.shop.svc.cluster.local.",
        "A",
    ),
    (
        "object/endpoint.go endpointSliceToEndpoints: a slice without ports is port -1; backend_lookup.go SRV skips it: NODATA",
        "raw.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "backend_lookup.go A: the headless Service without ports still has addresses",
        "raw.shop.svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go Services: SRV leaves out ExternalName (CNAME) items: NODATA",
        "ext.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "kubernetes.go findServices: ExternalName takes no port or protocol: NXDOMAIN",
        "_http._tcp.ext.shop.svc.cluster.local.",
        "SRV",
    ),
    (
        "backend_lookup.go A: the CNAME, its target resolved upstream",
        "ext.shop.svc.cluster.local.",
        "A",
    ),
    (
        "backend_lookup.go A: the CNAME followed inside the cluster zone",
        "alias.shop.svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go findServices: a namespace that exists, no service: NODATA",
        "shop.svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go Records: a namespace that does not exist: NXDOMAIN",
        "nowhere.svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go Services (TXT): a name that stands for records is NODATA",
        "web.shop.svc.cluster.local.",
        "TXT",
    ),
    (
        "kubernetes.go Services (TXT): a name that stands for nothing is NXDOMAIN, even a namespace",
        "shop.svc.cluster.local.",
        "TXT",
    ),
    (
        "kubernetes.go Services (TXT): dns-version",
        "dns-version.cluster.local.",
        "TXT",
    ),
    (
        "parse.go parseRequest: dns-version is neither svc nor pod for an A query: NXDOMAIN",
        "dns-version.cluster.local.",
        "A",
    ),
    (
        "parse.go parseRequest: three labels before the service is too long: NXDOMAIN",
        "a.b.c.web.shop.svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go match: no wildcards (removed in CoreDNS 1.9): NXDOMAIN",
        "*.shop.svc.cluster.local.",
        "A",
    ),
    (
        "parse.go parseRequest: the svc apex: NODATA",
        "svc.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go findPods (pods insecure): the address in the label",
        "10-244-0-99.shop.pod.cluster.local.",
        "A",
    ),
    (
        "kubernetes.go Records: pods of a namespace that does not exist: NXDOMAIN",
        "10-244-0-99.nowhere.pod.cluster.local.",
        "A",
    ),
    (
        "handler.go ServeDNS: other types are a fake A lookup (name exists: NODATA)",
        "web.shop.svc.cluster.local.",
        "ANY",
    ),
];

#[test]
fn answers_as_coredns_computes_them() {
    let loaded = load(
        &[Input::new("cluster.yaml", CLUSTER)],
        &Overrides::default(),
    );
    let mut out = String::new();
    for (cite, name, t) in CASES {
        let qtype = QueryType::parse(t).expect("a query type");
        let answer = resolve(&loaded, name, qtype, "default").expect("a cluster domain");
        let _ = writeln!(out, "# {cite}\n{answer}");
    }
    insta::assert_snapshot!(out);
}
