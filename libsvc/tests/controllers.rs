//! The controllers that write what kube-proxy, CoreDNS and kubectl read
//! (EndpointSlice, EndpointSliceMirroring, Endpoints), and kube-apiserver's
//! create path (IP-family defaulting, allocation), each case citing the
//! upstream function it follows. Cluster dumps read as stored objects.

use libsvc::config::IpFamily;
use libsvc::resolve::endpoints_controller::{
    EndpointsObject, MAX_CAPACITY, OVER_CAPACITY_ANNOTATION, endpoints_objects,
};
use libsvc::table::{AddressType, ServiceInfo, SliceSource};
use libsvc::{Input, Loaded, Overrides, Severity, load};
use proptest::prelude::*;

fn dual_stack() -> Overrides {
    Overrides {
        service_cidrs: vec![
            "10.96.0.0/16".parse().unwrap(),
            "fd00:10:96::/112".parse().unwrap(),
        ],
        ..Overrides::default()
    }
}

fn loaded_with(text: &str, o: &Overrides) -> Loaded {
    let loaded = load(&[Input::new("t.yaml", text)], o);
    assert!(!loaded.has_parse_errors(), "{:#?}", loaded.diagnostics);
    loaded
}

fn loaded(text: &str) -> Loaded {
    loaded_with(text, &Overrides::default())
}

fn svc<'a>(l: &'a Loaded, name: &str) -> &'a ServiceInfo {
    l.table.get("default", name).expect("service")
}

fn endpoints<'a>(objects: &'a [EndpointsObject], name: &str) -> &'a EndpointsObject {
    objects.iter().find(|e| e.name == name).expect("endpoints")
}

/// A Service `web` selecting `app: web`, `spec` lines indented by two.
fn service(spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n{spec}"
    )
}

/// A Pod of `app: web` serving `http` on 8080, with the given IPs.
fn pod(name: &str, ips: &[&str], ready: bool, meta: &str) -> String {
    let ips: Vec<String> = ips.iter().map(|ip| format!("{{ip: \"{ip}\"}}")).collect();
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: web}}\n{meta}spec:\n  nodeName: n1\n  containers:\n  - name: c\n    ports: [{{name: http, containerPort: 8080}}]\nstatus:\n  phase: Running\n  podIPs: [{}]\n  conditions: [{{type: Ready, status: \"{}\"}}]\n",
        ips.join(", "),
        if ready { "True" } else { "False" }
    )
}

fn pods(n: usize) -> String {
    (0..n)
        .map(|i| {
            pod(
                &format!("p{i:04}"),
                &[&format!("10.244.{}.{}", i / 250, i % 250 + 1)],
                true,
                "",
            )
        })
        .collect()
}

// ---------------------------------------------------------------- EndpointSlice controller

/// staging/src/k8s.io/endpointslice/reconciler.go,
/// `Reconciler.reconcileByAddressType`: "When no endpoint slices would
/// usually exist, we need to add a placeholder" — one per address type,
/// no ports, no endpoints. kubectl shows `<unset>`; kube-proxy has no
/// endpoints for it.
#[test]
fn a_service_that_selects_nothing_gets_a_placeholder_per_address_type() {
    let l = loaded(&service("  ports: [{port: 80}]\n"));
    let s = svc(&l, "web");
    assert_eq!(s.slices.len(), 1);
    let p = &s.slices[0];
    assert_eq!(
        (p.address_type, p.source),
        (AddressType::IPv4, SliceSource::Computed)
    );
    assert!(p.ports.is_empty() && p.endpoints.is_empty());
    let view = libsvc::views::get_endpoint_slices(
        &l,
        &libsvc::views::Query::new(libsvc::views::Namespaces::All),
    );
    assert!(
        view.contains("web-v4-0   IPv4          <unset>   <unset>"),
        "{view}"
    );
    let rules = libsvc::render::render(&l, libsvc::render::Mode::Iptables, &Default::default())
        .unwrap()
        .text;
    assert!(rules.contains("has no endpoints"), "{rules}");

    let l = loaded_with(
        &service("  ipFamilyPolicy: PreferDualStack\n  ports: [{port: 80}]\n"),
        &dual_stack(),
    );
    let types: Vec<AddressType> = svc(&l, "web")
        .slices
        .iter()
        .map(|s| s.address_type)
        .collect();
    assert_eq!(types, [AddressType::IPv4, AddressType::IPv6]);
}

/// reconciler.go, `reconcileByPortMapping`: a slice is filled up to
/// `maxEndpointsPerSlice` (kube-controller-manager's default: 100) before
/// the next is created.
#[test]
fn at_most_100_endpoints_per_slice() {
    let l = loaded(&format!(
        "{}{}",
        service("  ports: [{port: 80, targetPort: http}]\n"),
        pods(250)
    ));
    let sizes: Vec<usize> = svc(&l, "web")
        .slices
        .iter()
        .map(|s| s.endpoints.len())
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
}

/// pkg/controller/endpointslice/endpointslice_controller.go,
/// `Controller.syncService`: "services with Type ExternalName receive no
/// endpoints from this controller".
#[test]
fn no_slices_for_an_externalname_service() {
    let l = loaded(&format!(
        "{}{}",
        service("  type: ExternalName\n  externalName: example.com\n  ports: [{port: 80}]\n"),
        pods(2)
    ));
    assert!(svc(&l, "web").slices.is_empty());
    assert!(
        endpoints_objects(&l.objects, &l.table).is_empty(),
        "nor Endpoints (endpoints_controller.go syncService)"
    );
}

/// reconciler_helpers.go / utils.go, `getEndpointAddresses`: every Pod IP of
/// the slice's family, `ParseIPSloppy(ip).String()`.
#[test]
fn addresses_are_reprinted_canonically() {
    let l = loaded_with(
        &format!(
            "{}{}",
            service(
                "  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80, targetPort: http}]\n"
            ),
            pod("a", &["10.244.001.005", "fd00:0:0:0::0A"], true, "")
        ),
        &dual_stack(),
    );
    let addrs: Vec<&str> = svc(&l, "web")
        .slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| e.addresses[0].as_str())
        .collect();
    assert_eq!(addrs, ["10.244.1.5", "fd00::a"]);
}

/// utils.go, `getAddressTypesForService`: the Service's `ipFamilies`, so a
/// single-stack Service gets only its family even when its Pods have both.
#[test]
fn one_address_type_per_service_family() {
    let text = format!(
        "{}{}",
        service("  ports: [{port: 80, targetPort: http}]\n"),
        pod("a", &["10.244.0.5", "fd00::5"], true, "")
    );
    let l = loaded_with(&text, &dual_stack());
    let s = svc(&l, "web");
    assert_eq!(s.ip_families, [IpFamily::IPv4]);
    assert!(
        s.slices
            .iter()
            .all(|sl| sl.address_type == AddressType::IPv4)
    );
    let v6 = text.replace("  ports:", "  ipFamilies: [IPv6]\n  ports:");
    let l = loaded_with(&v6, &dual_stack());
    let types: Vec<AddressType> = svc(&l, "web")
        .slices
        .iter()
        .map(|s| s.address_type)
        .collect();
    assert_eq!(types, [AddressType::IPv6]);
}

/// utils.go, `podToEndpoint`: serving is the Pod's readiness, terminating
/// its deletionTimestamp, ready = publishNotReadyAddresses || (serving &&
/// !terminating). endpointslice util `ShouldPodBeInEndpoints(pod, true)`:
/// terminal Pods and Pods without an IP are left out, terminating ones kept.
#[test]
fn conditions_as_the_controller_writes_them() {
    let gone = pod("d", &["10.244.0.4"], true, "").replace("phase: Running", "phase: Succeeded");
    let no_ip =
        pod("e", &["10.244.0.5"], true, "").replace("  podIPs: [{ip: \"10.244.0.5\"}]\n", "");
    let text = format!(
        "{}{}{}{}{}{}",
        service("  ports: [{port: 80, targetPort: http}]\n"),
        pod("a", &["10.244.0.1"], true, ""),
        pod("b", &["10.244.0.2"], false, ""),
        pod(
            "c",
            &["10.244.0.3"],
            true,
            "  deletionTimestamp: \"2026-01-01T00:00:00Z\"\n"
        ),
        gone,
        no_ip
    );
    let l = loaded(&text);
    let got: Vec<(&str, bool, bool, bool)> = svc(&l, "web").slices[0]
        .endpoints
        .iter()
        .map(|e| (e.addresses[0].as_str(), e.ready, e.serving, e.terminating))
        .collect();
    assert_eq!(
        got,
        [
            ("10.244.0.1", true, true, false),
            ("10.244.0.2", false, false, false),
            ("10.244.0.3", false, true, true),
        ]
    );
    let l = loaded(&text.replace(
        "  selector:",
        "  publishNotReadyAddresses: true\n  selector:",
    ));
    assert!(svc(&l, "web").slices[0].endpoints.iter().all(|e| e.ready));
}

/// reconciler_helpers.go, `getEndpointPorts` with `podutil.FindPort`: a Pod
/// whose named port does not resolve is still an endpoint, in a slice
/// without that port.
#[test]
fn a_pod_without_the_named_port_lands_in_a_slice_without_it() {
    let other = pod("b", &["10.244.0.2"], true, "").replace("name: http,", "name: web,");
    let l = loaded(&format!(
        "{}{}{}",
        service("  ports: [{port: 80, targetPort: http}]\n"),
        pod("a", &["10.244.0.1"], true, ""),
        other
    ));
    let slices: Vec<(usize, usize)> = svc(&l, "web")
        .slices
        .iter()
        .map(|s| (s.ports.len(), s.endpoints.len()))
        .collect();
    assert_eq!(slices, [(0, 1), (1, 1)]);
}

// ---------------------------------------------------------------- EndpointSliceMirroring

fn selectorless(endpoints_meta: &str, subsets: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: ext}}\nspec:\n  ports: [{{port: 80}}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: ext\n{endpoints_meta}subsets:\n{subsets}"
    )
}

/// pkg/controller/endpointslicemirroring/endpointslicemirroring_controller.go,
/// `syncEndpoints`: a Service with a selector is not mirrored (its
/// EndpointSlices are the EndpointSlice controller's); `shouldMirror`:
/// `endpointslice.kubernetes.io/skip-mirror: "true"` is not mirrored.
#[test]
fn only_selectorless_services_without_skip_mirror_are_mirrored() {
    let subsets = "- addresses: [{ip: 10.1.0.1}]\n  ports: [{port: 80}]\n";
    let l = loaded(&selectorless("", subsets));
    let ext = svc(&l, "ext");
    assert_eq!(ext.slices.len(), 1);
    assert_eq!(ext.slices[0].source, SliceSource::MirroredFromEndpoints);

    let l = loaded(&selectorless(
        "  labels: {endpointslice.kubernetes.io/skip-mirror: \"true\"}\n",
        subsets,
    ));
    assert!(svc(&l, "ext").slices.is_empty());

    let with_selector =
        selectorless("", subsets).replace("spec:\n", "spec:\n  selector: {app: x}\n");
    let l = loaded(&with_selector);
    let ext = svc(&l, "ext");
    assert!(ext.slices.iter().all(|s| s.source == SliceSource::Computed));
}

/// endpointslicemirroring reconciler.go, `reconcile` (RepackSubsets first)
/// and utils.go `addressToEndpoint`: subsets with the same ports share one
/// slice, invalid IPs are skipped, valid ones re-printed canonically;
/// not-ready addresses get `ready: false` and no `serving`.
#[test]
fn mirroring_merges_subsets_with_the_same_ports() {
    let subsets = "- addresses: [{ip: 10.1.0.2}, {ip: not-an-ip}]\n  ports: [{port: 80}]\n- addresses: [{ip: 10.1.0.01}]\n  notReadyAddresses: [{ip: 10.1.0.3}]\n  ports: [{port: 80}]\n";
    let l = loaded(&selectorless("", subsets));
    let ext = svc(&l, "ext");
    assert_eq!(ext.slices.len(), 1, "{:#?}", ext.slices);
    let got: Vec<(&str, bool)> = ext.slices[0]
        .endpoints
        .iter()
        .map(|e| (e.addresses[0].as_str(), e.ready))
        .collect();
    assert_eq!(
        got,
        [("10.1.0.1", true), ("10.1.0.2", true), ("10.1.0.3", false)]
    );
}

/// endpointslicemirroring reconciler.go, `reconcile`: at most
/// `maxEndpointsPerSubset` (default 1000) addresses of a subset are mirrored.
#[test]
fn mirroring_stops_at_1000_addresses_per_subset() {
    let addrs: Vec<String> = (0..1005)
        .map(|i| format!("{{ip: 10.2.{}.{}}}", i / 250, i % 250 + 1))
        .collect();
    let subsets = format!(
        "- addresses: [{}]\n  ports: [{{port: 80}}]\n",
        addrs.join(", ")
    );
    let l = loaded(&selectorless("", &subsets));
    let n: usize = svc(&l, "ext")
        .slices
        .iter()
        .map(|s| s.endpoints.len())
        .sum();
    assert_eq!(n, 1000);
}

// ---------------------------------------------------------------- Endpoints controller

/// pkg/controller/endpoint/endpoints_controller.go,
/// `podToEndpointAddressForService`: the address of the Service's primary
/// family (`ipFamilies[0]`) only; `addEndpointSubset`: not-ready Pods in
/// `notReadyAddresses`; `syncService`: a Pod whose named port does not
/// resolve is left out of that port; `RepackSubsets`: one subset for the
/// Pods that serve the same ports, addresses sorted by IP bytes.
#[test]
fn endpoints_controller_subsets() {
    let other = pod("x", &["10.244.0.99"], true, "").replace("name: http,", "name: web,");
    let text = format!(
        "{}{}{}{}{}",
        service(
            "  ipFamilies: [IPv6, IPv4]\n  ipFamilyPolicy: PreferDualStack\n  ports: [{port: 80, targetPort: http}]\n"
        ),
        pod("a", &["10.244.0.9", "fd00::9"], true, ""),
        pod("b", &["10.244.0.10", "fd00::10"], true, ""),
        pod("c", &["10.244.0.11", "fd00::11"], false, ""),
        other,
    );
    let l = loaded_with(&text, &dual_stack());
    let all = endpoints_objects(&l.objects, &l.table);
    let e = endpoints(&all, "web");
    assert_eq!(e.subsets.len(), 1, "{e:#?}");
    let s = &e.subsets[0];
    let ready: Vec<&str> = s.addresses.iter().map(|a| a.ip.as_str()).collect();
    let not_ready: Vec<&str> = s
        .not_ready_addresses
        .iter()
        .map(|a| a.ip.as_str())
        .collect();
    assert_eq!(ready, ["fd00::10", "fd00::9"]);
    assert_eq!(not_ready, ["fd00::11"]);
    assert_eq!(s.ports.len(), 1);
    assert_eq!(s.ports[0].port, 8080);
    let view = libsvc::views::get_endpoints(
        &l,
        &libsvc::views::Query::new(libsvc::views::Namespaces::All),
    );
    assert!(view.contains("[fd00::10]:8080,[fd00::9]:8080"), "{view}");
}

/// endpoints_controller.go, `truncateEndpoints`: more than `maxCapacity`
/// (1000) addresses are cut to 1000 and the Endpoints are annotated
/// `endpoints.kubernetes.io/over-capacity: truncated`.
#[test]
fn endpoints_over_capacity_are_truncated() {
    let l = loaded(&format!(
        "{}{}",
        service("  ports: [{port: 80, targetPort: http}]\n"),
        pods(1001)
    ));
    let all = endpoints_objects(&l.objects, &l.table);
    let e = endpoints(&all, "web");
    let n: usize = e.subsets.iter().map(|s| s.addresses.len()).sum();
    assert_eq!(n, MAX_CAPACITY);
    assert_eq!(
        e.annotations
            .get(OVER_CAPACITY_ANNOTATION)
            .map(String::as_str),
        Some("truncated")
    );
}

/// endpoints_controller.go, `syncService`: a Service without a cluster IP
/// gets the `service.kubernetes.io/headless` label on its Endpoints; a
/// headless Service without ports still lists its Pods.
#[test]
fn headless_endpoints() {
    let l = loaded(&format!("{}{}", service("  clusterIP: None\n"), pods(2)));
    let all = endpoints_objects(&l.objects, &l.table);
    let e = endpoints(&all, "web");
    assert_eq!(
        e.labels
            .get("service.kubernetes.io/headless")
            .map(String::as_str),
        Some("")
    );
    assert_eq!(e.subsets.len(), 1);
    assert!(e.subsets[0].ports.is_empty());
    assert_eq!(e.subsets[0].addresses.len(), 2);
}

/// pkg/api/v1/endpoints/util.go, `SortSubsets`: ports are ordered by the
/// MD5 of `dump.ForHash` (spew `%#v`: `(v1.EndpointPort){Name:(string)… }`),
/// so the order does not depend on the Service's port order.
#[test]
fn subset_ports_are_sorted_by_hash_whatever_the_service_order() {
    let ports = |a: &str, b: &str| {
        let text = format!("{}{}", service(&format!("  ports: [{a}, {b}]\n")), pods(1));
        let l = loaded(&text);
        let all = endpoints_objects(&l.objects, &l.table);
        endpoints(&all, "web").subsets[0]
            .ports
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    let one = ports(
        "{name: a, port: 80, targetPort: 8080}",
        "{name: b, port: 81, targetPort: 8081}",
    );
    let two = ports(
        "{name: b, port: 81, targetPort: 8081}",
        "{name: a, port: 80, targetPort: 8080}",
    );
    assert_eq!(one, two);
}

// ---------------------------------------------------------------- kube-apiserver: IP families

fn families(text: &str, o: &Overrides) -> (Vec<IpFamily>, String, usize) {
    let l = loaded_with(text, o);
    let s = svc(&l, "web");
    let errors = l.errors().count();
    (s.ip_families.clone(), s.ip_family_policy.clone(), errors)
}

/// pkg/registry/core/service/storage/alloc.go, `initIPFamilyFields`:
/// headless without selector defaults to RequireDualStack with both
/// families (on any cluster); headless with a selector to SingleStack and
/// the primary family; an explicit SingleStack is kept; PreferDualStack
/// and RequireDualStack append the other family on a dual-stack cluster;
/// RequireDualStack on a single-stack cluster is refused.
#[test]
fn ip_family_defaulting_on_create() {
    use IpFamily::*;
    let headless = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: None\n  ports: [{port: 80}]\n";
    assert_eq!(
        families(headless, &Overrides::default()),
        (vec![IPv4, IPv6], "RequireDualStack".into(), 0)
    );
    assert_eq!(
        families(&service("  clusterIP: None\n"), &dual_stack()),
        (vec![IPv4], "SingleStack".into(), 0)
    );
    let single = service("  ipFamilyPolicy: SingleStack\n  ports: [{port: 80}]\n");
    assert_eq!(
        families(&single, &dual_stack()),
        (vec![IPv4], "SingleStack".into(), 0)
    );
    let prefer =
        service("  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv6]\n  ports: [{port: 80}]\n");
    assert_eq!(
        families(&prefer, &dual_stack()),
        (vec![IPv6, IPv4], "PreferDualStack".into(), 0)
    );
    assert_eq!(
        families(&prefer, &Overrides::default()).2,
        1,
        "IPv6 is not configured"
    );
    let require = service("  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80}]\n");
    let l = loaded(&require);
    let msg: Vec<String> = l.errors().map(|d| d.message.clone()).collect();
    assert_eq!(
        msg,
        [
            "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
        ]
    );
    let (f, p, _) = families(&require, &dual_stack());
    assert_eq!((f, p), (vec![IPv4, IPv6], "RequireDualStack".into()));
}

// ---------------------------------------------------------------- allocation: one implementation

fn service_doc(i: usize, kind: u8) -> String {
    let (type_, extra) = match kind % 4 {
        0 => ("ClusterIP", String::new()),
        1 => ("NodePort", String::new()),
        2 => (
            "LoadBalancer",
            "  externalTrafficPolicy: Local\n".to_string(),
        ),
        _ => (
            "ClusterIP",
            "  ipFamilyPolicy: PreferDualStack\n".to_string(),
        ),
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: ns-{}\nspec:\n  type: {type_}\n{extra}  ports: [{{port: {}}}]\n",
        i % 3,
        80 + i
    )
}

/// The table written back as manifests with every allocated value, as a
/// cluster would store them.
fn as_stored(t: &libsvc::ServiceTable) -> String {
    t.services
        .iter()
        .map(|s| {
            let ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| match p.node_port {
                    Some(np) => format!("{{port: {}, nodePort: {np}}}", p.port),
                    None => format!("{{port: {}}}", p.port),
                })
                .collect();
            let families: Vec<String> = s.ip_families.iter().map(|f| f.to_string()).collect();
            format!(
                "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  type: {}\n  ipFamilyPolicy: {}\n  ipFamilies: [{}]\n  clusterIP: {}\n  clusterIPs: [{}]\n{}  ports: [{}]\n",
                s.name,
                s.namespace,
                s.type_.as_str(),
                s.ip_family_policy,
                families.join(", "),
                s.cluster_ips_text[0],
                s.cluster_ips_text.join(", "),
                match (s.external_traffic_policy.as_deref(), s.health_check_node_port) {
                    (Some(p), Some(hc)) => format!("  externalTrafficPolicy: {p}\n  healthCheckNodePort: {hc}\n"),
                    (Some(p), None) => format!("  externalTrafficPolicy: {p}\n"),
                    _ => String::new(),
                },
                ports.join(", ")
            )
        })
        .collect()
}

/// What allocation decided, per Service.
type Allocated = Vec<(
    String,
    Vec<std::net::IpAddr>,
    Vec<IpFamily>,
    String,
    Vec<Option<u16>>,
    Option<u16>,
)>;

fn allocated(t: &libsvc::ServiceTable) -> Allocated {
    t.services
        .iter()
        .map(|s| {
            (
                s.key(),
                s.cluster_ips.clone(),
                s.ip_families.clone(),
                s.ip_family_policy.clone(),
                s.ports.iter().map(|p| p.node_port).collect(),
                s.health_check_node_port,
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// validate/allocation.rs `allocate_services` is the one create path:
    /// what resolve allocated, fed back as a manifest that requests those
    /// values, is accepted by validate (kube-apiserver's `allocateCreate`
    /// finds every value free and in range) and resolves to the same table;
    /// and allocation does not depend on document order.
    #[test]
    fn allocation_is_one_implementation_and_deterministic(
        kinds in proptest::collection::vec(0u8..4, 1..24),
        seed in any::<u64>(),
    ) {
        let o = dual_stack();
        let docs: Vec<String> = kinds.iter().enumerate().map(|(i, k)| service_doc(i, *k)).collect();
        let first = loaded_with(&docs.join("---\n"), &o);
        prop_assert_eq!(first.errors().count(), 0, "{:#?}", first.diagnostics);
        let mut shuffled = docs.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let again = loaded_with(&shuffled.join("---\n"), &o);
        prop_assert_eq!(allocated(&first.table), allocated(&again.table));
        let back = loaded_with(&as_stored(&first.table), &o);
        prop_assert_eq!(back.errors().count(), 0, "{:#?}", back.diagnostics);
        prop_assert_eq!(allocated(&first.table), allocated(&back.table));
    }
}

// ---------------------------------------------------------------- cluster dumps

const DUMP: &str = include_str!("data/dump/cluster.yaml");

/// A `kubectl get -o yaml` dump of a cluster whose service range is
/// 172.20.0.0/16: its Services are stored objects, the range is inferred
/// from `default/kubernetes` (the apiserver gives it the range's first
/// address: `ServiceIPRange` / `GetIndexedIP(range, 1)`), one info line
/// says so, and nothing else is reported.
#[test]
fn a_cluster_dump_validates_clean_with_its_own_service_cidr() {
    let l = load(&[Input::new("cluster.yaml", DUMP)], &Overrides::default());
    let not_info: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Info)
        .collect();
    assert!(not_info.is_empty(), "{not_info:#?}");
    let info: Vec<&str> = l.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(info.len(), 1);
    assert!(
        info[0]
            .starts_with("no service CIDR given: assuming 172.20.0.0/16 from the stored Services"),
        "{}",
        info[0]
    );
    assert!(info[0].ends_with("set it with --service-cidr or a ServiceCIDR object"));
    assert_eq!(
        l.settings.cluster.service_cidrs,
        ["172.20.0.0/16".parse::<ipnet::IpNet>().unwrap()]
    );
    // Stored values as they are: the NodePort and health-check ports of the
    // dump's cluster.
    let fe = l.table.get("shop", "frontend-external").unwrap();
    assert_eq!(
        (fe.ports[0].node_port, fe.health_check_node_port),
        (Some(30412), Some(32055))
    );
}

/// A Service created (hand-written, no clusterIP) next to a dump is still
/// allocated, from the inferred range, deterministically, and never an
/// address the dump holds.
#[test]
fn a_created_service_next_to_a_dump_is_allocated_in_its_range() {
    let new = "apiVersion: v1\nkind: Service\nmetadata: {name: new, namespace: shop}\nspec:\n  type: NodePort\n  selector: {app: cart}\n  ports: [{port: 80}]\n";
    let inputs = [
        Input::new("cluster.yaml", DUMP),
        Input::new("new.yaml", new),
    ];
    let l = load(&inputs, &Overrides::default());
    assert_eq!(l.errors().count(), 0, "{:#?}", l.diagnostics);
    let s = l.table.get("shop", "new").unwrap();
    assert!(s.allocated_cluster_ip);
    let ip = s.cluster_ips[0];
    assert!(
        "172.20.0.0/16"
            .parse::<ipnet::IpNet>()
            .unwrap()
            .contains(&ip)
    );
    assert!(
        l.table
            .services
            .iter()
            .filter(|o| o.name != "new")
            .all(|o| !o.cluster_ips.contains(&ip))
    );
    let again = load(
        &[inputs[1].clone(), inputs[0].clone()],
        &Overrides::default(),
    );
    assert_eq!(
        again.table.get("shop", "new").unwrap().cluster_ips,
        s.cluster_ips
    );
}

/// Only stored objects count as evidence; a flag wins over inference.
#[test]
fn hand_written_manifests_and_flags_are_not_inferred_from() {
    let hand = DUMP
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("uid:")
                && !l.trim_start().starts_with("resourceVersion:")
                && !l.trim_start().starts_with("creationTimestamp:")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let l = load(&[Input::new("hand.yaml", &hand)], &Overrides::default());
    assert_eq!(
        l.settings.cluster.service_cidrs,
        ["10.96.0.0/12".parse::<ipnet::IpNet>().unwrap()]
    );
    assert!(
        l.errors()
            .any(|d| d.message.contains("failed to allocate IP 172.20.0.1"))
    );
    let o = Overrides {
        service_cidrs: vec!["172.20.0.0/20".parse().unwrap()],
        ..Overrides::default()
    };
    let l = load(&[Input::new("cluster.yaml", DUMP)], &o);
    assert_eq!(l.settings.cluster.service_cidrs, o.service_cidrs);
    assert!(
        l.diagnostics
            .iter()
            .all(|d| d.severity != Severity::Info || !d.message.contains("service CIDR"))
    );
}

/// config.rs `infer_service_cidrs`: the smallest range at the network
/// before `default/kubernetes`'s address that holds every stored cluster IP,
/// never smaller than a /24 (/120).
#[test]
fn inferred_range_is_the_smallest_covering_one() {
    let stored = |name: &str, ns: &str, ip: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}, uid: u-{name}}}\nspec:\n  clusterIP: {ip}\n  ports: [{{port: 80}}]\n"
        )
    };
    let cidr = |docs: &[String]| {
        let l = load(
            &[Input::new("d.yaml", docs.concat())],
            &Overrides::default(),
        );
        l.settings
            .cluster
            .service_cidrs
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    };
    let k = stored("kubernetes", "default", "172.20.0.1");
    assert_eq!(
        cidr(&[k.clone(), stored("a", "x", "172.20.0.10")]),
        ["172.20.0.0/24"]
    );
    assert_eq!(
        cidr(&[k.clone(), stored("a", "x", "172.20.45.3")]),
        ["172.20.0.0/18"]
    );
    assert_eq!(
        cidr(&[k.clone(), stored("a", "x", "172.20.201.5")]),
        ["172.20.0.0/16"]
    );
    assert_eq!(
        cidr(&[k, stored("a", "x", "fd00:20::5")]),
        ["172.20.0.0/24", "fd00:20::/120"]
    );
    assert_eq!(
        cidr(&[
            stored("a", "x", "10.100.3.7"),
            stored("b", "x", "10.100.9.1")
        ]),
        ["10.100.0.0/20"]
    );
}

/// pkg/apis/core/v1/defaults.go, `SetDefaults_Service`: a load-balancer
/// ingress point with an IP and no `ipMode` is stored as `VIP`.
#[test]
fn ingress_ip_mode_defaults_to_vip() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 1.2.3.4}, {ip: 1.2.3.5, ipMode: Proxy}]\n";
    let l = loaded(text);
    let modes: Vec<(&str, bool)> = svc(&l, "web")
        .lb_ingress
        .iter()
        .map(|i| (i.ip_mode.as_str(), i.ip_mode_proxy))
        .collect();
    assert_eq!(modes, [("VIP", false), ("Proxy", true)]);
}

/// A Service whose EndpointSlices the input gives but none of its Pods
/// (the playground's starter, a slice-only manifest): the slices stand for
/// the Pods, so the Endpoints are what `syncService` would write from them
/// — one subset, ready addresses, the slice's port — instead of nothing.
#[test]
fn given_slices_without_pods_stand_for_the_pods() {
    let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: ["10.244.2.7"]
  conditions: {ready: true}
- addresses: ["10.244.1.5"]
  conditions: {ready: true}
- addresses: ["10.244.3.9"]
  conditions: {ready: false}
- addresses: ["10.244.3.10"]
  conditions: {ready: false, terminating: true}
"#;
    let overrides = Overrides {
        service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
        ..Default::default()
    };
    let l = load(&[Input::new("in.yaml", text)], &overrides);
    let eps = libsvc::resolve::endpoints_controller::endpoints_objects(&l.objects, &l.table);
    assert_eq!(eps.len(), 1);
    let subsets = &eps[0].subsets;
    assert_eq!(subsets.len(), 1, "{subsets:#?}");
    let ips = |a: &[libsvc::resolve::endpoints_controller::Address]| -> Vec<String> {
        a.iter().map(|a| a.ip.clone()).collect()
    };
    let mut ready = ips(&subsets[0].addresses);
    ready.sort();
    assert_eq!(ready, ["10.244.1.5", "10.244.2.7"]);
    assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.244.3.9"]);
    assert_eq!(subsets[0].ports[0].port, 8080);
    let view = libsvc::views::get_endpoints(
        &l,
        &libsvc::views::Query::new(libsvc::views::Namespaces::All),
    );
    assert!(
        view.contains("10.244.1.5:8080,10.244.2.7:8080")
            || view.contains("10.244.2.7:8080,10.244.1.5:8080"),
        "{view}"
    );
}
