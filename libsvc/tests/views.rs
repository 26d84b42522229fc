//! kubectl's `get svc` and `describe service`, one Service of each type,
//! whole outputs compared with insta snapshots.

use libsvc::config::Overrides;
use libsvc::parse::Input;
use libsvc::views::{Namespaces, Query, describe_service, get_services};

/// One Service of each type, written as kube-apiserver stores them (status
/// included), with the fields that do not apply to some types left out, as
/// validation requires.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: with-external-ips, namespace: default}
spec:
  clusterIP: 10.96.0.21
  externalIPs: [192.0.2.10]
  internalTrafficPolicy: Local
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: default}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: node-port, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.22
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata:
  name: lb
  namespace: default
  annotations:
    service.beta.kubernetes.io/load-balancer-source-ranges: 203.0.113.0/24
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.23
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  loadBalancerSourceRanges: [198.51.100.0/24]
  ports: [{name: http, port: 80, nodePort: 30081}]
status:
  loadBalancer:
    ingress:
    - ip: 192.0.2.20
    - ip: 192.0.2.21
      ipMode: Proxy
    - hostname: lb.example.com
    - ip: 192.0.2.22
      hostname: ignored.example.com
---
apiVersion: v1
kind: Service
metadata: {name: lb-by-name, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.24
  ports: [{port: 443, nodePort: 30443}]
status:
  loadBalancer:
    ingress:
    - hostname: a.example.com
---
apiVersion: v1
kind: Service
metadata: {name: lb-ip-and-name, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.26
  ports: [{port: 443, nodePort: 30445}]
status:
  loadBalancer:
    ingress:
    - ip: 192.0.2.30
      hostname: b.example.com
---
apiVersion: v1
kind: Service
metadata: {name: lb-pending, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.25
  ports: [{port: 443, nodePort: 30444}]
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: default}
spec:
  type: ExternalName
  externalName: db.example.com
"#;

fn loaded() -> libsvc::Loaded {
    libsvc::load(
        &[Input::new("cluster.yaml", CLUSTER)],
        &Overrides::default(),
    )
}

fn describe(name: &str) -> String {
    describe_service(&loaded(), "default", name).expect("the Service exists")
}

/// printers.go `printService` / `getServiceExternalIP` /
/// `loadBalancerStatusStringer`: an ingress point shows its hostname only
/// when its IP is empty; the load-balancer list is a sorted set clipped to
/// 16 bytes; a LoadBalancer without ingress is `<pending>`.
#[test]
fn get_svc_external_ip_column() {
    insta::assert_snapshot!(get_services(
        &loaded(),
        &Query::new(Namespaces::One("default".into()))
    ));
}

// describe.go `describeService`, line by line, for each type. The lines
// that depend on the type follow what kube-apiserver stores:
// SetDefaults_Service (sessionAffinity None for every type,
// externalTrafficPolicy Cluster for externally accessible Services,
// internalTrafficPolicy Cluster except for ExternalName, ingress ipMode VIP
// for a LoadBalancer), and validation (no node ports, health-check node port,
// source ranges or load-balancer status where the type has none).

/// describe.go `describeService`: ClusterIP — no External Traffic Policy,
/// no NodePort line.
#[test]
fn describe_cluster_ip() {
    insta::assert_snapshot!(describe("plain"));
}

/// describe.go `describeService`: ClusterIP with external IPs is externally
/// accessible, so External Traffic Policy (defaulted to Cluster) is shown.
#[test]
fn describe_cluster_ip_with_external_ips() {
    insta::assert_snapshot!(describe("with-external-ips"));
}

/// describe.go `describeService`: headless — `IP: None`.
#[test]
fn describe_headless() {
    insta::assert_snapshot!(describe("headless"));
}

/// describe.go `describeService`: NodePort — NodePort lines and External
/// Traffic Policy; no health-check node port (LoadBalancer only).
#[test]
fn describe_node_port() {
    insta::assert_snapshot!(describe("node-port"));
}

/// describe.go `describeService` and `buildIngressString`: LoadBalancer —
/// ingress IPs with their mode (`VIP` when unset, as defaulted), a hostname
/// only without an IP; source ranges from the spec field, not the legacy
/// annotation; health-check node port with externalTrafficPolicy Local.
#[test]
fn describe_load_balancer() {
    insta::assert_snapshot!(describe("lb"));
}

/// describe.go `describeService`: ExternalName — no IP Family Policy, no
/// traffic policies; Session Affinity None (defaulted for every type).
#[test]
fn describe_external_name() {
    insta::assert_snapshot!(describe("external"));
}
