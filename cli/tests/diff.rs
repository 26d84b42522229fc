//! `svcgen diff`: the delta between two sets of manifests, as the tool's
//! input, a summary or JSON; exit 0 when equal, 1 when different, 2 on
//! errors. The deltas follow kube-proxy's partial syncs
//! (pkg/proxy/nftables/proxier.go and pkg/proxy/iptables/proxier.go,
//! `syncProxyRules`); their correctness is proven in libsvc's
//! `tests/incremental.rs`.

mod run;

use run::{stdout, svcgen_stdin as svcgen};

const OLD: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
- addresses: [10.1.0.1]
- addresses: [10.1.0.2]
";

fn new_text() -> String {
    OLD.replace("- addresses: [10.1.0.2]\n", "")
}

fn write(dir: &str, text: &str) -> String {
    let d = std::env::temp_dir().join(format!("svcgen-diff-{dir}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("web.yaml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn equal_inputs_exit_0_and_print_nothing() {
    let old = write("eq", OLD);
    for mode in ["nftables", "iptables", "ipvs", "env", "dns"] {
        let o = svcgen(
            &[
                "diff",
                "--mode",
                mode,
                "-f",
                &old,
                "--to",
                "-",
                "--ip-family",
                "IPv4",
            ],
            OLD,
        );
        assert_eq!(o.status.code(), Some(0), "{mode}");
        assert_eq!(stdout(&o), "", "{mode}");
    }
}

#[test]
fn one_endpoint_gone_nftables_and_iptables() {
    let old = write("nft-old", OLD);
    let new = write("nft-new", &new_text());
    let o = svcgen(
        &[
            "diff",
            "--mode",
            "nftables",
            "-f",
            &old,
            "--to",
            &new,
            "--ip-family",
            "IPv4",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("diff_nftables", stdout(&o));
    let o = svcgen(
        &[
            "diff",
            "--mode",
            "iptables",
            "-f",
            &old,
            "--to",
            &new,
            "--ip-family",
            "IPv4",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("diff_iptables", stdout(&o));
    let o = svcgen(
        &[
            "diff",
            "--mode",
            "iptables",
            "-f",
            &old,
            "--to",
            &new,
            "--ip-family",
            "IPv4",
            "--stat",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("diff_iptables_stat", stdout(&o));
}

#[test]
fn json_is_the_structured_delta() {
    let old = write("json-old", OLD);
    let new = write("json-new", &new_text());
    let o = svcgen(
        &[
            "diff", "--mode", "dns", "-f", &old, "--to", &new, "-o", "json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "the records do not change");
    let o = svcgen(
        &[
            "diff",
            "--mode",
            "nftables",
            "-f",
            &old,
            "--to",
            &new,
            "-o",
            "json",
            "--ip-family",
            "IPv4",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["services"], serde_json::json!(["default/web"]));
    assert!(
        v["nftables"]["tables"][0]["partial"]["chains"].is_array(),
        "{v}"
    );
}

#[test]
fn errors_exit_2() {
    let old = write("err", OLD);
    let o = svcgen(&["diff", "--mode", "nftables", "-f", "-", "--to", "-"], OLD);
    assert_eq!(o.status.code(), Some(2));
    let o = svcgen(&["diff", "--mode", "resolv", "-f", &old, "--to", &old], "");
    assert_eq!(o.status.code(), Some(2));
    let o = svcgen(
        &["diff", "--mode", "nftables", "-f", &old, "--to", "-"],
        "kind: Service\nmetadata: [\n",
    );
    assert_eq!(o.status.code(), Some(2));
}
