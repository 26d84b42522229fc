//! Env, DNS, resolv.conf and resolve on the classic shapes (redis-master,
//! a headless nginx, a multi-port Service): whole outputs compared.

use libsvc::dns::{QueryType, Rcode};
use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Loaded, Overrides, Severity, load};

const REDIS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: kubernetes}
spec: {cidrs: [10.0.0.0/16]}
---
apiVersion: v1
kind: Service
metadata:
  name: redis-master
  labels: {app: redis, role: master}
spec:
  clusterIP: 10.0.0.11
  selector: {app: redis, role: master}
  ports:
  - port: 6379
    targetPort: 6379
"#;

const MASTER: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec:
  clusterIP: 10.0.0.1
  ports: [{name: https, port: 443, targetPort: 6443}]
"#;

const NGINX: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: web}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: web, labels: {app: nginx}}
spec:
  hostname: web-0
  subdomain: nginx
  containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]
status: {podIP: 10.244.1.5, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: web, labels: {app: nginx}}
spec:
  containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]
status: {podIP: 10.244.2.6, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: web, labels: {app: nginx}}
spec:
  containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]
status: {podIP: 10.244.3.7, conditions: [{type: Ready, status: "False"}]}
"#;

const MULTI: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: multi-port, namespace: shop}
spec:
  clusterIP: 10.96.5.5
  selector: {app: shop}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
"#;

fn loaded(docs: &[&str]) -> Loaded {
    load(
        &[Input::new("test.yaml", docs.join("\n---\n"))],
        &Overrides::default(),
    )
}

fn env(l: &Loaded, namespace: &str, links: Option<bool>, pod: Option<&str>) -> String {
    let o = RenderOptions {
        namespace: Some(namespace.to_string()).filter(|n| !n.is_empty()),
        enable_service_links: links,
        pod: pod.map(String::from),
        ..Default::default()
    };
    render(l, Mode::Env, &o).unwrap().text
}

fn dns(l: &Loaded) -> String {
    render(l, Mode::Dns, &RenderOptions::default())
        .unwrap()
        .text
}

const REDIS_VARS: &str = "\
REDIS_MASTER_SERVICE_HOST=10.0.0.11
REDIS_MASTER_SERVICE_PORT=6379
REDIS_MASTER_PORT=tcp://10.0.0.11:6379
REDIS_MASTER_PORT_6379_TCP=tcp://10.0.0.11:6379
REDIS_MASTER_PORT_6379_TCP_PROTO=tcp
REDIS_MASTER_PORT_6379_TCP_PORT=6379
REDIS_MASTER_PORT_6379_TCP_ADDR=10.0.0.11
";

#[test]
fn redis_master_gives_exactly_seven_variables() {
    let l = loaded(&[REDIS]);
    assert_eq!(env(&l, "default", None, None), REDIS_VARS);
    // Another namespace sees nothing of default but the master service.
    assert_eq!(env(&l, "other", None, None), "");
}

#[test]
fn master_service_is_added_when_present() {
    let l = loaded(&[REDIS, MASTER]);
    let master = "\
KUBERNETES_SERVICE_HOST=10.0.0.1
KUBERNETES_SERVICE_PORT=443
KUBERNETES_SERVICE_PORT_HTTPS=443
KUBERNETES_PORT=tcp://10.0.0.1:443
KUBERNETES_PORT_443_TCP=tcp://10.0.0.1:443
KUBERNETES_PORT_443_TCP_PROTO=tcp
KUBERNETES_PORT_443_TCP_PORT=443
KUBERNETES_PORT_443_TCP_ADDR=10.0.0.1
";
    assert_eq!(
        env(&l, "default", None, None),
        format!("{master}{REDIS_VARS}")
    );
    assert_eq!(env(&l, "default", Some(false), None), master);
    assert_eq!(env(&l, "shop", Some(true), None), master);
}

#[test]
fn env_json_is_a_list_of_name_value() {
    let l = loaded(&[REDIS]);
    let json = RenderOptions {
        json: true,
        ..RenderOptions::default()
    };
    let r = render(&l, Mode::Env, &json).unwrap();
    assert_eq!(r.json[0]["name"], "REDIS_MASTER_SERVICE_HOST");
    assert_eq!(r.json[0]["value"], "10.0.0.11");
    assert_eq!(r.json.as_array().unwrap().len(), 7);
}

#[test]
fn pod_option_takes_namespace_and_links() {
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  enableServiceLinks: false
  containers: [{name: c, image: busybox}]
"#;
    let l = loaded(&[REDIS, MASTER, pod]);
    let out = env(&l, "", None, Some("client"));
    assert!(out.starts_with("KUBERNETES_SERVICE_HOST=10.0.0.1\n"));
    assert!(!out.contains("REDIS"));
    let err = render(
        &l,
        Mode::Env,
        &RenderOptions {
            pod: Some("nope".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "no Pod \"nope\" in the input");
}

#[test]
fn shadowed_variables_are_warned_about_with_location() {
    let docs = r#"
apiVersion: v1
kind: Service
metadata: {name: foo}
spec: {clusterIP: 10.0.0.5, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: foo-port-80-tcp}
spec: {clusterIP: 10.0.0.6, ports: [{port: 81}]}
"#;
    let l = loaded(&[docs]);
    let r = render(&l, Mode::Env, &RenderOptions::default()).unwrap();
    let w: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("FOO_PORT_80_TCP_PORT"))
        .collect();
    assert_eq!(w.len(), 1, "{:#?}", r.diagnostics);
    assert_eq!(w[0].severity, Severity::Warning);
    assert_eq!(w[0].location.as_ref().unwrap().line, 7);
}

#[test]
fn a_namespace_near_the_size_limit_is_warned_about() {
    let mut docs = String::new();
    for i in 0..2200 {
        docs.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: service-with-a-long-name-{i:05}}}\nspec: {{clusterIP: 10.1.{}.{}, ports: [{{name: http, port: 8080}}, {{name: https, port: 8443}}, {{name: grpc, port: 9000}}]}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let l = loaded(&[&docs]);
    let r = render(&l, Mode::Env, &RenderOptions::default()).unwrap();
    let size: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("argument list too long"))
        .collect();
    assert_eq!(size.len(), 1);
    assert!(size[0].message.contains("bytes"), "{}", size[0].message);
    assert!(size[0].location.is_some());
    // A small namespace gets no such warning.
    let r = render(&loaded(&[REDIS]), Mode::Env, &RenderOptions::default()).unwrap();
    assert!(r.diagnostics.is_empty());
}

#[test]
fn headless_nginx_lists_one_address_per_ready_endpoint() {
    let l = loaded(&[NGINX]);
    assert_eq!(
        dns(&l),
        "\
5.1.244.10.in-addr.arpa. 5 IN PTR web-0.nginx.web.svc.cluster.local.
6.2.244.10.in-addr.arpa. 5 IN PTR 10-244-2-6.nginx.web.svc.cluster.local.
dns-version.cluster.local. 28800 IN TXT \"1.1.0\"
nginx.web.svc.cluster.local. 5 IN A 10.244.1.5
nginx.web.svc.cluster.local. 5 IN A 10.244.2.6
10-244-2-6.nginx.web.svc.cluster.local. 5 IN A 10.244.2.6
_http._tcp.nginx.web.svc.cluster.local. 5 IN SRV 0 50 80 10-244-2-6.nginx.web.svc.cluster.local.
_http._tcp.nginx.web.svc.cluster.local. 5 IN SRV 0 50 80 web-0.nginx.web.svc.cluster.local.
web-0.nginx.web.svc.cluster.local. 5 IN A 10.244.1.5
"
    );
}

#[test]
fn multi_port_service_records_and_srv_lookup() {
    let l = loaded(&[MULTI]);
    assert_eq!(
        dns(&l),
        "\
5.5.96.10.in-addr.arpa. 5 IN PTR multi-port.shop.svc.cluster.local.
dns-version.cluster.local. 28800 IN TXT \"1.1.0\"
multi-port.shop.svc.cluster.local. 5 IN A 10.96.5.5
_http._tcp.multi-port.shop.svc.cluster.local. 5 IN SRV 0 100 80 multi-port.shop.svc.cluster.local.
_metrics._tcp.multi-port.shop.svc.cluster.local. 5 IN SRV 0 100 9090 multi-port.shop.svc.cluster.local.
_dns._udp.multi-port.shop.svc.cluster.local. 5 IN SRV 0 100 53 multi-port.shop.svc.cluster.local.
"
    );
    let a = libsvc::dns::resolve(
        &l,
        "_http._tcp.multi-port.shop",
        QueryType::Record(libsvc::dns::RecordType::SRV),
        "default",
    )
    .unwrap();
    assert_eq!(a.rcode, Rcode::NoError);
    assert_eq!(
        a.name.as_deref(),
        Some("_http._tcp.multi-port.shop.svc.cluster.local.")
    );
    assert_eq!(
        a.answer.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "_http._tcp.multi-port.shop.svc.cluster.local. 5 IN SRV 0 100 80 multi-port.shop.svc.cluster.local."
        ]
    );
    assert_eq!(
        a.additional[0].to_string(),
        "multi-port.shop.svc.cluster.local. 5 IN A 10.96.5.5"
    );
}

#[test]
fn resolve_uses_the_search_list_of_the_pod_namespace() {
    let l = loaded(&[REDIS, MULTI, NGINX]);
    let a_type = QueryType::Record(libsvc::dns::RecordType::A);
    // Short name from the same namespace: the first search domain answers.
    let a = libsvc::dns::resolve(&l, "redis-master", a_type, "default").unwrap();
    assert_eq!(a.tried.len(), 1);
    assert_eq!(
        a.answer[0].to_string(),
        "redis-master.default.svc.cluster.local. 5 IN A 10.0.0.11"
    );
    // From another namespace the short name does not exist ...
    let a = libsvc::dns::resolve(&l, "redis-master", a_type, "shop").unwrap();
    assert_eq!(a.rcode, Rcode::NxDomain);
    assert!(a.answer.is_empty());
    // ... but name.namespace does, through the second search domain.
    let a = libsvc::dns::resolve(&l, "redis-master.default", a_type, "shop").unwrap();
    assert_eq!(
        a.name.as_deref(),
        Some("redis-master.default.svc.cluster.local.")
    );
    // Fully qualified names skip the search list.
    let a =
        libsvc::dns::resolve(&l, "web-0.nginx.web.svc.cluster.local.", a_type, "default").unwrap();
    assert_eq!(a.tried.len(), 1);
    assert_eq!(
        a.answer[0].to_string(),
        "web-0.nginx.web.svc.cluster.local. 5 IN A 10.244.1.5"
    );
    // Reverse lookups and NODATA.
    let ptr = QueryType::Record(libsvc::dns::RecordType::PTR);
    let a = libsvc::dns::resolve(&l, "11.0.0.10.in-addr.arpa.", ptr, "default").unwrap();
    assert_eq!(
        a.answer[0].to_string(),
        "11.0.0.10.in-addr.arpa. 5 IN PTR redis-master.default.svc.cluster.local."
    );
    let a = libsvc::dns::resolve(
        &l,
        "redis-master.default.svc.cluster.local.",
        QueryType::Record(libsvc::dns::RecordType::AAAA),
        "default",
    )
    .unwrap();
    assert_eq!((a.rcode, a.answer.len()), (Rcode::NoError, 0));
    let a = libsvc::dns::resolve(
        &l,
        "multi-port.shop.svc.cluster.local.",
        QueryType::Any,
        "default",
    )
    .unwrap();
    assert_eq!((a.rcode, a.answer.len()), (Rcode::NoError, 0));
    // CoreDNS `pods insecure`.
    let a =
        libsvc::dns::resolve(&l, "10-244-9-9.web.pod.cluster.local.", a_type, "default").unwrap();
    assert_eq!(
        a.answer[0].to_string(),
        "10-244-9-9.web.pod.cluster.local. 5 IN A 10.244.9.9"
    );
}

#[test]
fn resolv_conf_cluster_first() {
    let l = loaded(&[REDIS]);
    let o = RenderOptions {
        namespace: Some("shop".into()),
        ..Default::default()
    };
    assert_eq!(
        render(&l, Mode::Resolv, &o).unwrap().text,
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n"
    );
}

#[test]
fn externalname_and_special_cases() {
    let docs = r#"
apiVersion: v1
kind: Service
metadata: {name: literal, namespace: ext}
spec: {type: ExternalName, externalName: 192.0.2.1}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: ext}
spec: {type: ExternalName, externalName: redis-master.default.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: ext, annotations: {service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"}}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: ext}
subsets:
- notReadyAddresses: [{ip: "fd00::"}]
  ports: [{name: pg, port: 5432}]
"#;
    let l = loaded(&[REDIS, docs]);
    let r = render(&l, Mode::Dns, &RenderOptions::default()).unwrap();
    assert!(!r.text.contains("literal."), "{}", r.text);
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.message.contains("is an IP address"))
    );
    assert!(r.text.contains(
        "alias.ext.svc.cluster.local. 5 IN CNAME redis-master.default.svc.cluster.local.\n"
    ));
    assert!(
        r.text
            .contains("legacy.ext.svc.cluster.local. 5 IN AAAA fd00::\n")
    );
    assert!(
        r.text
            .contains("fd00--0.legacy.ext.svc.cluster.local. 5 IN AAAA fd00::\n")
    );
    assert!(r.text.contains(
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR fd00--0.legacy.ext.svc.cluster.local.\n"
    ));
    // The CNAME is followed inside the cluster zone.
    let a = libsvc::dns::resolve(
        &l,
        "alias.ext",
        QueryType::Record(libsvc::dns::RecordType::A),
        "default",
    )
    .unwrap();
    assert_eq!(a.answer.len(), 2);
    assert_eq!(
        a.answer[1].to_string(),
        "redis-master.default.svc.cluster.local. 5 IN A 10.0.0.11"
    );
}

#[test]
fn nothing_from_a_name_breaks_a_line() {
    let docs = "apiVersion: v1\nkind: Service\nmetadata: {name: \"bad\\nEVIL=1\"}\nspec: {clusterIP: \"10.0.0.9\\nX=1\", ports: [{port: 80}]}\n";
    let l = loaded(&[docs]);
    let e = render(&l, Mode::Env, &RenderOptions::default()).unwrap();
    assert_eq!(e.text, "");
    // The cluster IP is not an address: left out when the table is built,
    // with an error that says so (resolve/mod.rs).
    assert!(l.diagnostics.iter().any(|d| {
        d.is_error()
            && d.message
                .contains("is not an IP address and cannot be programmed")
    }));
    let d = render(&l, Mode::Dns, &RenderOptions::default()).unwrap();
    assert!(!d.text.contains("EVIL"));
}
