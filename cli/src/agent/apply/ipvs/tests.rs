//! The IPVS applier's tests. The virtual-server diff is a pure function,
//! tested here on text. The parts that need no IPVS (kube-ipvs0 addresses,
//! ipsets, iptables) run for real in a network namespace each test makes
//! and deletes (this kernel, like CI's, has no IPVS).

use super::*;
use crate::agent::apply::TEST_NETNS;
use std::process::Command;

#[test]
fn sections_split_a_whole_render() {
    let text = "# ---- IPv4 ipvs: ipvsadm-save -n (ipvsadm-restore)\n-A -t 10.96.0.1:443 -s rr\n\
                # ---- IPv4 ipset: ipset restore -exist\ncreate KUBE-X hash:ip family inet hashsize 1024 maxelem 65536\n\
                # ---- IPv4 iptables: iptables-restore --noflush\n*nat\nCOMMIT\n\
                # ---- IPv4 addresses: ip -batch\nlink add kube-ipvs0 type dummy\n\
                # ---- sysctls: sysctl -p\nnet.ipv4.vs.conntrack = 1\n";
    let s = Sections::parse(text).unwrap();
    assert_eq!(s.ipvs, "-A -t 10.96.0.1:443 -s rr\n");
    assert_eq!(s.iptables, "*nat\nCOMMIT\n");
    assert_eq!(s.sysctls, "net.ipv4.vs.conntrack = 1\n");
    assert!(Sections::parse("-A -t 1.2.3.4:1 -s rr\n").is_err());
}

const CURRENT: &str = "\
-A -t 10.96.0.1:443 -s rr
-a -t 10.96.0.1:443 -r 10.0.0.1:6443 -m -w 1
-a -t 10.96.0.1:443 -r 10.0.0.2:6443 -m -w 1
-A -t 10.96.0.20:80 -s rr
-a -t 10.96.0.20:80 -r 10.1.0.5:8080 -m -w 1
-A -u 192.168.1.10:30053 -s rr
-A -t 192.168.1.10:22 -s wlc
-a -t 192.168.1.10:22 -r 192.168.1.11:22 -m -w 3
-A -f 7 -s rr
";

const WANT: &str = "\
-A -t 10.96.0.1:443 -s rr -p 10800
-a -t 10.96.0.1:443 -r 10.0.0.2:6443 -m -w 1
-a -t 10.96.0.1:443 -r 10.0.0.3:6443 -m -w 1
-A -t 10.96.0.30:53 -s rr
-a -t 10.96.0.30:53 -r 10.1.0.9:53 -m -w 1
";

#[test]
fn ipvs_diff_adds_edits_and_deletes_only_owned_servers() {
    let current = parse_ipvsadm(CURRENT).unwrap();
    let want = parse_ipvsadm(WANT).unwrap();
    let mut own = Ownership {
        addresses: ["10.96.0.1", "10.96.0.20", "10.96.0.30"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect(),
        node_ports: BTreeSet::new(),
    };
    let sets = parse_sets(
        "create KUBE-NODE-PORT-UDP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-UDP 30053\n",
    );
    own.add_node_ports(&sets);
    let (upsert, delete) = ipvs_commands(&current, &want, &own);
    assert_eq!(
        upsert,
        "-E -t 10.96.0.1:443 -s rr -p 10800\n\
         -a -t 10.96.0.1:443 -r 10.0.0.3:6443 -m -w 1\n\
         -A -t 10.96.0.30:53 -s rr\n\
         -a -t 10.96.0.30:53 -r 10.1.0.9:53 -m -w 1\n"
    );
    // 192.168.1.10:22 (not a service address, not a node port) and the
    // fwmark service are foreign: never named.
    assert_eq!(
        delete,
        "-d -t 10.96.0.1:443 -r 10.0.0.1:6443\n\
         -D -t 10.96.0.20:80\n\
         -D -u 192.168.1.10:30053\n"
    );
    // Applied state: nothing to do.
    assert_eq!(
        ipvs_commands(&want, &want, &own),
        (String::new(), String::new())
    );
    // A weight change is an edit; cleanup deletes every owned server.
    let heavier =
        parse_ipvsadm(&WANT.replace("10.0.0.3:6443 -m -w 1", "10.0.0.3:6443 -m -w 2")).unwrap();
    assert_eq!(
        ipvs_commands(&want, &heavier, &own).0,
        "-e -t 10.96.0.1:443 -r 10.0.0.3:6443 -m -w 2\n"
    );
    assert_eq!(
        ipvs_commands(&current, &VirtualServers::new(), &own).1,
        "-D -t 10.96.0.1:443\n-D -t 10.96.0.20:80\n-D -u 192.168.1.10:30053\n"
    );
}

#[test]
fn libsvc_render_is_read_back_exactly() {
    // The rendered ipvs section is in ipvsadm-save's own format.
    let want = parse_ipvsadm(WANT).unwrap();
    let mut again = String::new();
    for ((flag, addr), v) in &want {
        again.push_str(&format!("-A {flag} {addr} {}\n", v.options));
        for (r, o) in &v.reals {
            again.push_str(&format!("-a {flag} {addr} -r {r} {o}\n"));
        }
    }
    assert_eq!(parse_ipvsadm(&again).unwrap(), want);
}

/// A network namespace this test thread's tool calls run in; deleted on
/// drop, also when the test fails.
struct Netns(String);

impl Netns {
    fn new(what: &str) -> Option<Netns> {
        // Root is needed; elsewhere the kernel part is skipped.
        if !Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n")
        {
            eprintln!("skipped: not root");
            return None;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("svcgen-test-ipvs-{what}-{}-{nanos:x}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        TEST_NETNS.with(|n| *n.borrow_mut() = Some(name.clone()));
        Some(Netns(name))
    }

    fn sh(&self, script: &str) -> String {
        run("sh", &["-c", script], None).unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        TEST_NETNS.with(|n| *n.borrow_mut() = None);
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// One family's render with these cluster IPs (bound, in KUBE-CLUSTER-IP)
/// and node ports (in KUBE-NODE-PORT-TCP).
fn render(ips: &[&str], node_ports: &[u16]) -> String {
    let mut t = String::from("# ---- IPv4 ipvs: ipvsadm-save -n (ipvsadm-restore)\n");
    for ip in ips {
        t.push_str(&format!("-A -t {ip}:80 -s rr\n"));
    }
    t.push_str("# ---- IPv4 ipset: ipset restore -exist\n");
    t.push_str("# KUBE-CLUSTER-IP: Kubernetes service cluster ip + port for masquerade purpose\n");
    t.push_str("create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n");
    for ip in ips {
        t.push_str(&format!("add KUBE-CLUSTER-IP {ip},tcp:80\n"));
    }
    t.push_str("create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\n");
    for p in node_ports {
        t.push_str(&format!("add KUBE-NODE-PORT-TCP {p}\n"));
    }
    t.push_str("create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n");
    t.push_str(
        "# ---- IPv4 iptables: iptables-restore --noflush\n\
         *nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-NODE-PORT - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n\
         -A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n\
         -A KUBE-NODE-PORT -p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\n\
         -A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n\
         COMMIT\n\
         *filter\n:KUBE-FORWARD - [0:0]\n:KUBE-IPVS-FILTER - [0:0]\n\
         -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n\
         -A KUBE-IPVS-FILTER -m set --match-set KUBE-LOOP-BACK dst,dst,src -j ACCEPT\n\
         COMMIT\n",
    );
    t.push_str("# ---- IPv4 addresses: ip -batch\nlink add kube-ipvs0 type dummy\n");
    for ip in ips {
        t.push_str(&format!("addr add {ip}/32 dev kube-ipvs0\n"));
    }
    t.push_str("# ---- sysctls: sysctl -p\n");
    t
}

/// Everything of the namespace the test compares: addresses of every
/// interface, every ipset, every iptables rule.
fn state(ns: &Netns) -> (String, String, String) {
    (
        ns.sh("ip -o addr show | awk '{print $2, $4}' | sort"),
        ns.sh("ipset save | grep -v '^create' | sort; ipset list -n | sort"),
        ns.sh("iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'"),
    )
}

fn apply(ipt: &mut Iptables, text: &str, full: bool) {
    let s = Sections::parse(text).unwrap();
    apply_host_part(ipt, Family::V4, &s, full, |_| Ok(0)).unwrap();
}

#[test]
fn host_part_applies_idempotently_owns_only_its_objects_and_cleans_up() {
    let Some(ns) = Netns::new("host") else {
        return;
    };
    // This kernel (like CI's) has no dummy interfaces: kube-ipvs0 is made a
    // bridge beforehand (the applier creates it only when missing; that
    // batch is checked in `address_batches_touch_only_kube_ipvs0`), and the
    // foreign interface too.
    ns.sh("ip link add kube-ipvs0 type bridge");
    // Foreign state: an address on another interface, a foreign set, a
    // foreign chain with a rule using that set.
    ns.sh(
        "ip link add other0 type bridge && ip addr add 10.96.0.99/32 dev other0 && \
         ipset create FOREIGN hash:ip && ipset add FOREIGN 1.2.3.4 && \
         iptables -N FOREIGN-CHAIN && iptables -A INPUT -m set --match-set FOREIGN src -j FOREIGN-CHAIN && \
         iptables -t nat -A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE",
    );
    let foreign_before = state(&ns);

    let mut ipt = Iptables::with_profile(Profile::ipvs());
    let v1 = render(&["10.96.0.1", "10.96.0.2"], &[30080]);
    apply(&mut ipt, &v1, true);
    let after_first = state(&ns);
    apply(&mut ipt, &v1, true);
    assert_eq!(
        state(&ns),
        after_first,
        "a second full apply changes nothing"
    );
    apply(&mut ipt, &v1, false);
    assert_eq!(
        state(&ns),
        after_first,
        "a partial apply of the same text changes nothing"
    );

    let addrs = ns.sh("ip -o addr show dev kube-ipvs0 | awk '{print $4}' | sort");
    assert_eq!(addrs, "10.96.0.1/32\n10.96.0.2/32\n");
    let sets = ns.sh("ipset save KUBE-CLUSTER-IP | grep ^add | sort");
    assert_eq!(
        sets,
        "add KUBE-CLUSTER-IP 10.96.0.1,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.2,tcp:80\n"
    );
    let nat = ns.sh("iptables-save -t nat");
    assert!(nat.contains(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
    ));
    assert!(nat.contains("KUBE-CLUSTER-IP dst,dst -j ACCEPT"));

    // A changed desired state: one address and its set entry gone, a node port changed.
    let v2 = render(&["10.96.0.1"], &[30090]);
    apply(&mut ipt, &v2, false);
    let addrs = ns.sh("ip -o addr show dev kube-ipvs0 | awk '{print $4}' | sort");
    assert_eq!(addrs, "10.96.0.1/32\n");
    assert_eq!(
        ns.sh("ipset save | grep '^add KUBE' | sort"),
        "add KUBE-CLUSTER-IP 10.96.0.1,tcp:80\nadd KUBE-NODE-PORT-TCP 30090\n"
    );
    assert_eq!(
        ns.sh("ipset list -n | sort"),
        "FOREIGN\nKUBE-CLUSTER-IP\nKUBE-LOOP-BACK\nKUBE-NODE-PORT-TCP\n",
        "no temporary set is left"
    );

    // A set no longer wanted is destroyed once no rule refers to it.
    let v3 = v2
        .replace(
            "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n",
            "",
        )
        .replace(
            "-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOOP-BACK dst,dst,src -j ACCEPT\n",
            "",
        );
    apply(&mut ipt, &v3, true);
    assert!(!ns.sh("ipset list -n").contains("KUBE-LOOP-BACK"));

    // Cleanup leaves nothing of ours, and the foreign state as it was.
    cleanup_all(&mut ipt, false).unwrap();
    ns.sh("ip link add kube-ipvs0 type bridge");
    assert_eq!(state(&ns), foreign_before);
    ns.sh("ip link del kube-ipvs0");
    assert!(run("ip", &["link", "show", "dev", DEVICE], None).is_err());
}

#[test]
fn ownership_counts_kernel_node_port_sets() {
    let sets = parse_sets(
        "create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-6-NODE-PORT-TCP 30001\n\
         create KUBE-NODE-PORT-SCTP-HASH hash:ip,port family inet hashsize 1024 maxelem 65536\n\
         add KUBE-NODE-PORT-SCTP-HASH 192.168.1.10,sctp:30002\ncreate OTHER bitmap:port range 0-65535\nadd OTHER 22\n",
    );
    let mut own = Ownership::default();
    own.add_node_ports(&sets);
    assert!(own.owns("-t", "[fd00::1]:30001"));
    assert!(own.owns("--sctp-service", "192.168.1.10:30002"));
    assert!(!own.owns("-t", "192.168.1.10:22"));
}

#[test]
fn address_batches_touch_only_kube_ipvs0() {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let want: BTreeSet<IpAddr> = [ip("10.96.0.1"), ip("10.96.0.2")].into();
    let (add, del) = address_batches(None, &want, Family::V4);
    assert_eq!(
        add,
        "link add kube-ipvs0 type dummy\naddr add 10.96.0.1/32 dev kube-ipvs0\naddr add 10.96.0.2/32 dev kube-ipvs0\n"
    );
    assert_eq!(del, "");
    // An IPv4 apply leaves the IPv6 proxier's addresses alone.
    let have: BTreeSet<IpAddr> = [ip("10.96.0.1"), ip("10.96.0.9"), ip("fd00::1")].into();
    let (add, del) = address_batches(Some(&have), &want, Family::V4);
    assert_eq!(add, "addr add 10.96.0.2/32 dev kube-ipvs0\n");
    assert_eq!(del, "addr del 10.96.0.9/32 dev kube-ipvs0\n");
}

/// libsvc's whole `--mode ipvs` render of the examples (IPv4, node-1).
fn libsvc_render(files: &[&str]) -> String {
    let inputs: Vec<libsvc::parse::Input> = files
        .iter()
        .map(|f| {
            let path = format!("{}/../examples/{f}", env!("CARGO_MANIFEST_DIR"));
            libsvc::parse::Input::new(f.to_string(), std::fs::read_to_string(path).unwrap())
        })
        .collect();
    let overrides = libsvc::config::Overrides {
        node_name: Some("node-1".into()),
        node_ips: vec!["192.168.1.10".parse().unwrap()],
        ip_family: Some(libsvc::config::IpFamily::IPv4),
        ..Default::default()
    };
    let loaded = libsvc::load(&inputs, &overrides);
    let options = libsvc::render::RenderOptions::default();
    libsvc::render::render(&loaded, libsvc::render::Mode::Ipvs, &options)
        .unwrap()
        .text
}

#[test]
fn a_real_libsvc_render_applies_and_reads_back_unchanged() {
    let Some(ns) = Netns::new("render") else {
        return;
    };
    ns.sh("ip link add kube-ipvs0 type bridge");
    let mut ipt = Iptables::with_profile(Profile::ipvs());
    let files = [
        "00-service-cidr.yaml",
        "hello-world.yaml",
        "kubia-affinity.yaml",
    ];
    let text = libsvc_render(&files);
    let s = Sections::parse(&text).unwrap();
    apply(&mut ipt, &text, true);
    // The kernel holds exactly the render: nothing left to add or remove.
    let want_addrs = wanted_addresses(&s.addresses).unwrap();
    assert!(!want_addrs.is_empty());
    let (add, del) = address_batches(
        kernel_addresses().unwrap().as_ref(),
        &want_addrs,
        Family::V4,
    );
    assert_eq!((add.as_str(), del.as_str()), ("", ""));
    let want_sets = parse_sets(&s.ipset);
    assert!(want_sets.values().any(|s| !s.entries.is_empty()));
    let (refresh, destroy) = ipset_batches(&want_sets, &kernel_sets().unwrap(), Family::V4);
    assert_eq!((refresh.as_str(), destroy.as_str()), ("", ""));
    // The iptables part as the kernel lists it is what preview predicts.
    assert_eq!(
        ipt.current(Family::V4).unwrap(),
        ipt.preview_with_sets(Family::V4, &s.iptables, &sets_text(&want_sets))
            .unwrap()
    );
    // A smaller render: kubia's address, set entries and its sets' members go.
    let smaller = libsvc_render(&files[..2]);
    apply(&mut ipt, &smaller, false);
    let s2 = Sections::parse(&smaller).unwrap();
    let kernel = kernel_addresses().unwrap().unwrap();
    assert_eq!(kernel, wanted_addresses(&s2.addresses).unwrap());
    assert!(kernel.len() < want_addrs.len());
    cleanup_all(&mut ipt, false).unwrap();
    assert_eq!(ns.sh("ipset list -n"), "");
    assert!(!ns.sh("iptables-save").contains("KUBE-"));
}

#[test]
fn only_kube_proxy_sysctls_are_written() {
    let p = apply_sysctls(
        "kernel.core_pattern = |/bin/sh\nnet.ipv4/../../x = 1\nnet.ipv4.x = 1; reboot\n",
    );
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p.iter()
            .all(|l| l.ends_with("not a kube-proxy sysctl, not set"))
    );
}

#[test]
fn scheduler_flags_missing_from_a_save_are_not_a_change() {
    let saved = parse_ipvsadm("-A -t 10.96.0.1:80 -s mh\n").unwrap();
    let want = parse_ipvsadm("-A -t 10.96.0.1:80 -s mh -b mh-port\n").unwrap();
    let own = Ownership::default();
    assert_eq!(ipvs_commands(&saved, &want, &own).0, "");
    let rr = parse_ipvsadm("-A -t 10.96.0.1:80 -s rr\n").unwrap();
    assert_eq!(
        ipvs_commands(&rr, &want, &own).0,
        "-E -t 10.96.0.1:80 -s mh -b mh-port\n"
    );
}
