//! A small stored cluster, as a kube-apiserver holds it: two Nodes, a
//! ServiceCIDR, the kubernetes and kube-dns Services, a shop with a
//! ClusterIP, a NodePort with externalTrafficPolicy Local, a headless and
//! an ExternalName Service, their EndpointSlices and Pods, and kubeadm's
//! kube-proxy ConfigMap. The fake API server adds uid, creationTimestamp
//! and resourceVersion.

#![allow(dead_code)]

use serde_json::{Value, json};

fn node(name: &str, ip: &str, cidr: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}})
}

fn service(ns: &str, name: &str, ip: &str, ports: Value, extra: Value) -> Value {
    let mut spec = json!({"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
        "sessionAffinity": "None", "type": "ClusterIP", "ports": ports,
        "selector": {"app": name}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": spec, "status": {"loadBalancer": {}}})
}

fn slice(ns: &str, svc: &str, ports: Value, endpoints: Value) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{svc}-abcde"), "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc,
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4", "ports": ports, "endpoints": endpoints})
}

fn endpoint(ip: &str, node: &str, pod: &str, ns: &str) -> Value {
    json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false},
        "nodeName": node, "targetRef": {"kind": "Pod", "name": pod, "namespace": ns}})
}

/// A running Pod.
pub fn pod(ns: &str, name: &str, app: &str, node: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.168.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "main", "ready": true, "restartCount": 0,
                "image": "registry.k8s.io/pause:3.10", "imageID": "", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}})
}

/// The cluster.
pub fn cluster() -> Vec<Value> {
    let tcp = |name: &str, port: u16, target: u16| json!({"name": name, "port": port, "protocol": "TCP", "targetPort": target});
    vec![
        node("node-1", "192.168.0.1", "10.244.1.0/24"),
        node("node-2", "192.168.0.2", "10.244.2.0/24"),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.96.0.0/12"]}}),
        {
            let mut s = service(
                "default",
                "kubernetes",
                "10.96.0.1",
                json!([tcp("https", 443, 6443)]),
                json!({}),
            );
            s["spec"].as_object_mut().unwrap().remove("selector");
            s
        },
        service(
            "kube-system",
            "kube-dns",
            "10.96.0.10",
            json!([{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                   {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]),
            json!({"selector": {"k8s-app": "kube-dns"}}),
        ),
        service(
            "shop",
            "web",
            "10.96.0.20",
            json!([tcp("http", 80, 8080)]),
            json!({}),
        ),
        service(
            "shop",
            "api",
            "10.96.0.21",
            json!([{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]),
            json!({"type": "NodePort", "externalTrafficPolicy": "Local"}),
        ),
        service(
            "shop",
            "db",
            "None",
            json!([tcp("pg", 5432, 5432)]),
            json!({"clusterIPs": ["None"]}),
        ),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "shop"},
            "spec": {"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"},
            "status": {"loadBalancer": {}}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io"}},
            "addressType": "IPv4", "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["192.168.0.1"], "conditions": {"ready": true}}]}),
        slice(
            "kube-system",
            "kube-dns",
            json!([{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]),
            json!([endpoint("10.244.1.2", "node-1", "coredns-1", "kube-system")]),
        ),
        slice(
            "shop",
            "web",
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
            json!([
                endpoint("10.244.1.10", "node-1", "web-1", "shop"),
                endpoint("10.244.2.11", "node-2", "web-2", "shop")
            ]),
        ),
        slice(
            "shop",
            "api",
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
            json!([endpoint("10.244.1.12", "node-1", "api-1", "shop")]),
        ),
        {
            // The endpointslice controller labels a headless Service's slices.
            let mut s = slice(
                "shop",
                "db",
                json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
                json!([endpoint("10.244.2.13", "node-2", "db-0", "shop")]),
            );
            s["metadata"]["labels"]["service.kubernetes.io/headless"] = "".into();
            s
        },
        {
            // A Service for another proxy (kube-proxy's informers leave it out).
            let mut s = service(
                "shop",
                "meshed",
                "10.96.0.30",
                json!([tcp("http", 80, 8080)]),
                json!({}),
            );
            s["metadata"]["labels"]["service.kubernetes.io/service-proxy-name"] =
                "other-proxy".into();
            s
        },
        pod(
            "kube-system",
            "coredns-1",
            "kube-dns",
            "node-1",
            "10.244.1.2",
        ),
        pod("shop", "web-1", "web", "node-1", "10.244.1.10"),
        pod("shop", "web-2", "web", "node-2", "10.244.2.11"),
        pod("shop", "api-1", "api", "node-1", "10.244.1.12"),
        pod("shop", "db-0", "db", "node-2", "10.244.2.13"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 10.244.0.0/16\nmode: \"\"\n",
                     "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}}),
    ]
}

/// `n` more Pods, for a flood.
pub fn pods(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            pod(
                "flood",
                &format!("p-{i:05}"),
                "flood",
                "node-1",
                &format!("10.244.{}.{}", 100 + i / 250, 1 + i % 250),
            )
        })
        .collect()
}

/// The number of Pods in [`cluster`].
pub fn cluster_pods() -> usize {
    cluster().iter().filter(|o| o["kind"] == "Pod").count()
}
