//! Node dumps built from pieces: `iptables-save`, `nft list ruleset` (text
//! and `-j` JSON), `ipset save` and `ipvsadm-save -n`, in the shapes
//! kube-proxy leaves on a node, with now and then a piece of raw text. The
//! parsers (`libsvc::dump`) must never panic, answer the same twice, put
//! every diagnostic on a line of the input, and the parsed dump must trace.

use arbitrary::Arbitrary;
use libsvc::dump::{self, trace as dump_trace};
use libsvc::table::Protocol;
use libsvc::trace::Packet;
use serde_json::{Value, json};

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Format {
    IptablesSave,
    Nft,
    NftJson,
    Ipset,
    Ipvsadm,
}

/// One piece of a dump; each format writes it its own way.
#[derive(Arbitrary, Debug, Clone)]
pub enum Item {
    Table(u8),
    Chain(u8, Option<u8>),
    Rule {
        chain: u8,
        matches: Vec<u8>,
        target: u8,
        n: u16,
    },
    Set {
        name: u8,
        elements: Vec<u16>,
    },
    End,
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct DumpText {
    pub format: Format,
    pub items: Vec<Item>,
}

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[i as usize % pool.len()]
}

const IPT_TABLES: [&str; 4] = ["nat", "filter", "mangle", "raw"];
const IPT_CHAINS: [&str; 10] = [
    "PREROUTING",
    "OUTPUT",
    "POSTROUTING",
    "INPUT",
    "FORWARD",
    "KUBE-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-SVC-ABCDEFGHIJKLMNOP",
    "KUBE-SEP-QRSTUVWXYZ234567",
    "KUBE-MARK-MASQ",
];

fn ipt_match(m: u8, n: u16) -> String {
    let octet = n % 256;
    match m % 16 {
        0 => format!("-s 10.244.{octet}.0/24"),
        1 => format!("-d 10.96.0.{octet}/32"),
        2 => "-p tcp -m tcp --dport 80".to_string(),
        3 => format!("-p udp -m udp --dport {n}"),
        4 => "-m comment --comment \"default/web:http cluster IP\"".to_string(),
        5 => format!("-m statistic --mode random --probability 0.{n:05}"),
        6 => "-m recent --name KUBE-SEP-QRSTUVWXYZ234567 --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap".to_string(),
        7 => "-m addrtype --dst-type LOCAL".to_string(),
        8 => "-m mark --mark 0x4000/0x4000".to_string(),
        9 => "! -s 10.0.0.0/8".to_string(),
        10 => "-m set --match-set KUBE-CLUSTER-IP dst,dst".to_string(),
        11 => "-m conntrack --ctstate INVALID".to_string(),
        12 => "-i cbr0".to_string(),
        13 => "-m comment --comment kubernetes".to_string(),
        14 => format!("-p sctp -m sctp --dport {n}"),
        _ => "-m physdev ! --physdev-is-in".to_string(),
    }
}

fn ipt_target(t: u8, n: u16) -> String {
    match t % 10 {
        0 => "-j KUBE-MARK-MASQ".to_string(),
        1 => format!("-j DNAT --to-destination 10.244.1.{}:{n}", n % 256),
        2 => "-j REJECT --reject-with icmp-port-unreachable".to_string(),
        3 => "-j MASQUERADE --random-fully".to_string(),
        4 => "-j MARK --or-mark 0x4000".to_string(),
        5 => "-j RETURN".to_string(),
        6 => "-j KUBE-SVC-ABCDEFGHIJKLMNOP".to_string(),
        7 => "-j KUBE-SEP-QRSTUVWXYZ234567".to_string(),
        8 => "-j ACCEPT".to_string(),
        _ => "-j DROP".to_string(),
    }
}

const NFT_CHAINS: [&str; 6] = [
    "nat-prerouting",
    "services",
    "service-ULMVA6XW-ns/web/tcp/p80",
    "endpoint-5OJB2KTY-ns/web/tcp/p80__10.180.0.1/80",
    "mark-for-masquerade",
    "filter-forward",
];
const NFT_HOOKS: [&str; 5] = [
    "type nat hook prerouting priority dstnat; policy accept;",
    "type nat hook output priority -100; policy accept;",
    "type filter hook forward priority -110; policy accept;",
    "type nat hook postrouting priority srcnat; policy accept;",
    "type filter hook input priority -110; policy accept;",
];

fn nft_stmt(m: u8, n: u16) -> String {
    let octet = n % 256;
    match m % 14 {
        0 => format!("ip daddr 10.96.0.{octet}"),
        1 => "ip saddr != 10.0.0.0/8".to_string(),
        2 => format!("tcp dport {n}"),
        3 => "meta l4proto . th dport vmap @service-nodeports".to_string(),
        4 => "ip daddr . meta l4proto . th dport vmap @service-ips".to_string(),
        5 => "numgen random mod 2 vmap { 0 : goto endpoint-a , 1 : goto endpoint-b }".to_string(),
        6 => format!("meta l4proto tcp dnat to 10.180.0.{octet}:{n}"),
        7 => "mark set mark or 0x4000".to_string(),
        8 => "fib daddr type local".to_string(),
        9 => "ct state new".to_string(),
        10 => "update @affinity-x { ip saddr timeout 10800s }".to_string(),
        11 => "ip saddr @affinity-x goto endpoint-a".to_string(),
        12 => "jump mark-for-masquerade".to_string(),
        _ => "reject".to_string(),
    }
}

fn nft_json_expr(m: u8, n: u16) -> Value {
    match m % 6 {
        0 => {
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": format!("10.96.0.{}", n % 256)}})
        }
        1 => {
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": n}})
        }
        2 => json!({"jump": {"target": "mark-for-masquerade"}}),
        3 => json!({"dnat": {"addr": format!("10.180.0.{}", n % 256), "port": n}}),
        4 => {
            json!({"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"meta": {"key": "mark"}}, 16384]}}})
        }
        _ => json!({"reject": null}),
    }
}

const SET_NAMES: [&str; 4] = [
    "KUBE-CLUSTER-IP",
    "KUBE-LOOP-BACK",
    "KUBE-NODE-PORT-TCP",
    "KUBE-EXTERNAL-IP",
];
const SET_TYPES: [&str; 4] = [
    "hash:ip,port",
    "hash:ip,port,ip",
    "bitmap:port",
    "hash:ip,port",
];

impl DumpText {
    /// The dump's text.
    pub fn text(&self) -> String {
        let items = &self.items[..self.items.len().min(40)];
        let mut out = String::new();
        match self.format {
            Format::IptablesSave => {
                out.push_str("# Generated by iptables-save v1.8.10 (nf_tables)\n");
                for i in items {
                    match i {
                        Item::Table(t) => out.push_str(&format!("*{}\n", pick(&IPT_TABLES, *t))),
                        Item::Chain(c, policy) => out.push_str(&format!(
                            ":{} {} [0:0]\n",
                            pick(&IPT_CHAINS, *c),
                            if policy.is_some() { "ACCEPT" } else { "-" }
                        )),
                        Item::Rule {
                            chain,
                            matches,
                            target,
                            n,
                        } => {
                            let mut line = format!("-A {}", pick(&IPT_CHAINS, *chain));
                            for m in matches.iter().take(5) {
                                line.push(' ');
                                line.push_str(&ipt_match(*m, *n));
                            }
                            line.push(' ');
                            line.push_str(&ipt_target(*target, *n));
                            out.push_str(&line);
                            out.push('\n');
                        }
                        Item::Set { .. } | Item::End => out.push_str("COMMIT\n"),
                        Item::Raw(s) => out.push_str(&format!("{s}\n")),
                    }
                }
            }
            Format::Nft => {
                for i in items {
                    match i {
                        Item::Table(t) => out.push_str(&format!(
                            "table {} kube-proxy {{\n\tcomment \"rules for kube-proxy\"\n",
                            pick(&["ip", "ip6", "inet"], *t)
                        )),
                        Item::Chain(c, hook) => {
                            out.push_str(&format!("\tchain {} {{\n", pick(&NFT_CHAINS, *c)));
                            if let Some(h) = hook {
                                out.push_str(&format!("\t\t{}\n", pick(&NFT_HOOKS, *h)));
                            }
                        }
                        Item::Rule {
                            matches, target, n, ..
                        } => {
                            let mut line = String::from("\t\t");
                            for m in matches.iter().take(4) {
                                line.push_str(&nft_stmt(*m, *n));
                                line.push(' ');
                            }
                            line.push_str(&nft_stmt(*target, n.wrapping_add(1)));
                            out.push_str(&line);
                            out.push('\n');
                        }
                        Item::Set { name, elements } => {
                            let els: Vec<String> = elements
                                .iter()
                                .take(4)
                                .map(|e| format!("10.96.0.{} . tcp . {}", e % 256, e))
                                .collect();
                            out.push_str(&format!(
                                "\tmap {} {{\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\t\telements = {{ {} }}\n\t}}\n",
                                pick(&["service-ips", "service-nodeports", "no-endpoint-services"], *name),
                                els.iter().map(|e| format!("{e} : goto services")).collect::<Vec<_>>().join(", ")
                            ));
                        }
                        Item::End => out.push_str("\t}\n"),
                        Item::Raw(s) => out.push_str(&format!("{s}\n")),
                    }
                }
            }
            Format::NftJson => {
                let mut objects =
                    vec![json!({"metainfo": {"version": "1.0.9", "json_schema_version": 1}})];
                for i in items {
                    match i {
                        Item::Table(t) => objects.push(json!({"table": {"family": pick(&["ip", "ip6"], *t), "name": "kube-proxy", "handle": 1}})),
                        Item::Chain(c, hook) => {
                            let mut chain = json!({"family": "ip", "table": "kube-proxy", "name": pick(&NFT_CHAINS, *c), "handle": 2});
                            if let Some(h) = hook {
                                chain["type"] = "nat".into();
                                chain["hook"] = pick(&["prerouting", "output", "postrouting"], *h).into();
                                chain["prio"] = (-100).into();
                                chain["policy"] = "accept".into();
                            }
                            objects.push(json!({ "chain": chain }));
                        }
                        Item::Rule { chain, matches, target, n } => {
                            let mut expr: Vec<Value> = matches.iter().take(4).map(|m| nft_json_expr(*m, *n)).collect();
                            expr.push(nft_json_expr(*target, *n));
                            objects.push(json!({"rule": {"family": "ip", "table": "kube-proxy", "chain": pick(&NFT_CHAINS, *chain), "handle": n, "expr": expr}}));
                        }
                        Item::Set { name, elements } => {
                            let els: Vec<Value> = elements.iter().take(4).map(|e| json!(format!("10.96.0.{}", e % 256))).collect();
                            objects.push(json!({"set": {"family": "ip", "table": "kube-proxy", "name": pick(&["cluster-ips", "nodeport-ips"], *name), "type": "ipv4_addr", "elem": els}}));
                        }
                        Item::End => {}
                        Item::Raw(s) => objects.push(Value::String(s.clone())),
                    }
                }
                out = json!({ "nftables": objects }).to_string();
            }
            Format::Ipset => {
                for i in items {
                    match i {
                        Item::Table(t) | Item::Chain(t, _) => out.push_str(&format!(
                            "create {} {} family {} hashsize 1024 maxelem 65536\n",
                            pick(&SET_NAMES, *t),
                            pick(&SET_TYPES, *t),
                            pick(&["inet", "inet6"], t / 4)
                        )),
                        Item::Rule { chain, n, .. } => out.push_str(&format!(
                            "add {} 10.96.0.{},tcp:{}\n",
                            pick(&SET_NAMES, *chain),
                            n % 256,
                            n
                        )),
                        Item::Set { name, elements } => {
                            for e in elements.iter().take(4) {
                                out.push_str(&format!(
                                    "add {} 192.168.0.{},udp:{},10.244.0.0/16\n",
                                    pick(&SET_NAMES, *name),
                                    e % 256,
                                    e
                                ));
                            }
                        }
                        Item::End => out.push('\n'),
                        Item::Raw(s) => out.push_str(&format!("{s}\n")),
                    }
                }
            }
            Format::Ipvsadm => {
                for i in items {
                    match i {
                        Item::Table(t) | Item::Chain(t, _) => out.push_str(&format!(
                            "-A {} 10.96.0.{}:80 -s {}{}\n",
                            pick(&["-t", "-u", "--sctp-service"], *t),
                            t % 16,
                            pick(&["rr", "wrr", "lc", "sh"], *t),
                            if t % 3 == 0 { " -p 10800" } else { "" }
                        )),
                        Item::Rule {
                            chain, target, n, ..
                        } => out.push_str(&format!(
                            "-a {} 10.96.0.{}:80 -r 10.244.1.{}:{} {} -w {}\n",
                            pick(&["-t", "-u", "--sctp-service"], *chain),
                            chain % 16,
                            n % 256,
                            n,
                            pick(&["-m", "-g", "-i"], *target),
                            target % 3
                        )),
                        Item::Set { name, .. } => {
                            out.push_str(&format!("-A -t [fd00:10:96::{:x}]:443 -s rr\n", name))
                        }
                        Item::End => out.push('\n'),
                        Item::Raw(s) => out.push_str(&format!("{s}\n")),
                    }
                }
            }
        }
        out
    }
}

/// The parsers' invariants on one dump text.
pub fn check_dump_text(text: &str) -> Result<(), String> {
    let a = dump::parse("node.dump", text);
    let b = dump::parse("node.dump", text);
    if format!("{:?}", (&a.tables, &a.ipsets, &a.ipvs))
        != format!("{:?}", (&b.tables, &b.ipsets, &b.ipvs))
        || a.diagnostics != b.diagnostics
    {
        return Err("the same dump parsed twice gives different answers".into());
    }
    let lines = text.lines().count().max(1) as u32 + 1;
    for d in &a.diagnostics {
        if let Some(loc) = &d.location
            && (loc.line == 0 || loc.line > lines)
        {
            return Err(format!("diagnostic outside the input ({lines} lines): {d}"));
        }
    }
    let (dump, _) = dump::load(&[libsvc::Input::new("node.dump", text)]);
    let opts = dump_trace::Options {
        local: vec![[192, 168, 0, 2].into()],
        ..Default::default()
    };
    for (dst, port) in [
        ([10, 96, 0, 1], 80),
        ([192, 168, 0, 2], 30080),
        ([10, 96, 0, 10], 53),
    ] {
        for protocol in [Protocol::TCP, Protocol::UDP] {
            let p = Packet {
                src: [10, 244, 1, 5].into(),
                dst: dst.into(),
                port,
                protocol,
                in_interface: None,
            };
            let _ = dump_trace::trace(&dump, &opts, &p);
        }
    }
    Ok(())
}
