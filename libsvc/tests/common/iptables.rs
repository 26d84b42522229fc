//! iptables-restore text as kube-proxy's unit tests compare it: the dump
//! parser and canonical order of `conformance/iptables/compare.py`, and its
//! jump-consistency check.
#![allow(dead_code)]

use std::collections::BTreeSet;

/// One table of a dump: chains in order, each with its rules (raw text).
pub struct DumpTable {
    /// `filter`, `nat`.
    pub name: String,
    /// (chain, counters, rules).
    pub chains: Vec<(String, String, Vec<String>)>,
}

/// Splits a rule into words: a double-quoted string or a run of non-blanks,
/// each starting the line or following a blank; quotes removed.
pub fn split_words(rule: &str) -> Vec<String> {
    let b = rule.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let blank = |c: u8| b"\t\n\x0c\r ".contains(&c);
    while i < b.len() {
        if i > 0 && !blank(b[i - 1]) {
            i += 1;
            continue;
        }
        if blank(b[i]) {
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            match rule[i + 1..].find('"') {
                Some(end) => {
                    out.push(rule[i + 1..i + 1 + end].to_string());
                    i = i + 2 + end;
                }
                None => i += 1,
            }
        } else {
            let start = i;
            while i < b.len() && !blank(b[i]) {
                i += 1;
            }
            out.push(rule[start..i].trim_matches('"').to_string());
        }
    }
    out
}

/// The `--comment` value of a rule.
pub fn comment_of(rule: &str) -> Option<String> {
    let w = split_words(rule);
    let mut i = 0;
    while i < w.len() {
        if w[i] == "-m" {
            i += 2;
            continue;
        }
        if w[i] == "--comment" {
            return w.get(i + 1).cloned();
        }
        i += 1;
    }
    None
}

/// The `-d` value of a rule (negated or not).
pub fn destination_of(rule: &str) -> Option<String> {
    let w = split_words(rule);
    let mut i = 0;
    while i < w.len() {
        if w[i] == "-m" {
            i += 2;
            continue;
        }
        if w[i] == "-d" {
            return w.get(i + 1).cloned();
        }
        i += 1;
    }
    None
}

/// Parses a dump (blank and `#` lines skipped).
pub fn parse_dump(text: &str) -> Result<Vec<DumpTable>, String> {
    let mut tables: Vec<DumpTable> = Vec::new();
    let mut open = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !open {
            let name = line
                .strip_prefix('*')
                .ok_or_else(|| format!("expected a table, got {line:?}"))?;
            tables.push(DumpTable {
                name: name.to_string(),
                chains: Vec::new(),
            });
            open = true;
            continue;
        }
        let t = tables.last_mut().ok_or("no table")?;
        if line == "COMMIT" {
            open = false;
        } else if let Some(decl) = line.strip_prefix(':') {
            let (name, rest) = decl.split_once(' ').ok_or(format!("bad chain {line:?}"))?;
            let counters = rest
                .strip_prefix("- ")
                .ok_or(format!("bad chain {line:?}"))?;
            t.chains
                .push((name.to_string(), counters.to_string(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split(' ').next().unwrap_or("");
            if split_words(line).len() < 3 {
                return Err(format!("rule without options: {line:?}"));
            }
            let c = t
                .chains
                .iter_mut()
                .find(|c| c.0 == chain)
                .ok_or(format!("rule for undeclared chain: {line:?}"))?;
            c.2.push(line.to_string());
        } else {
            return Err(format!("cannot parse line {line:?}"));
        }
    }
    if open {
        return Err("missing COMMIT".into());
    }
    Ok(tables)
}

fn service_of(rule: &str) -> Option<String> {
    comment_of(rule).map(|c| c.split([' ', ':']).next().unwrap_or("").to_string())
}

fn by_service(a: &str, b: &str) -> bool {
    match (service_of(a), service_of(b)) {
        (Some(x), Some(y)) => x < y,
        _ => false,
    }
}

fn must_be_last(r: &str) -> bool {
    comment_of(r).is_some_and(|c| c.contains("must be the last rule"))
}

fn nat_services_less(a: &str, b: &str) -> bool {
    if must_be_last(a) {
        return false;
    }
    if must_be_last(b) {
        return true;
    }
    by_service(a, b)
}

fn insertion_sort(v: &mut [String], less: fn(&str, &str) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn chain_rank(name: &str) -> (u8, String) {
    let r = match name {
        "KUBE-NODEPORTS" => 0,
        "KUBE-SERVICES" => 1,
        n if n.starts_with("KUBE-") => 2,
        _ => 3,
    };
    (r, name.to_string())
}

/// The canonical form of a dump.
pub fn normalise(text: &str) -> Result<String, String> {
    let mut tables = parse_dump(text)?;
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for t in &mut tables {
        t.chains.sort_by_key(|c| chain_rank(&c.0));
        for c in &mut t.chains {
            let less: Option<fn(&str, &str) -> bool> = match (t.name.as_str(), c.0.as_str()) {
                (_, "KUBE-NODEPORTS") => Some(by_service),
                ("filter", "KUBE-SERVICES") => Some(by_service),
                ("nat", "KUBE-SERVICES") => Some(nat_services_less),
                _ => None,
            };
            if let Some(less) = less {
                insertion_sort(&mut c.2, less);
            }
        }
        out.push_str(&format!("*{}\n", t.name));
        for c in &t.chains {
            out.push_str(&format!(":{} - {}\n", c.0, c.1));
        }
        for c in &t.chains {
            for r in &c.2 {
                out.push_str(r);
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }
    Ok(out)
}

/// The rules of one chain, in order, one per line.
pub fn chain_rules(text: &str, table: &str, chain: &str) -> Result<String, String> {
    let tables = parse_dump(text)?;
    Ok(tables
        .iter()
        .find(|t| t.name == table)
        .and_then(|t| t.chains.iter().find(|c| c.0 == chain))
        .map(|c| c.2.iter().map(|r| format!("{r}\n")).collect())
        .unwrap_or_default())
}

/// kube-proxy's test consistency check: jumps and filled chains declared,
/// jumped-to chains non-empty, declared chains used.
pub fn check_jumps(text: &str) -> Result<(), String> {
    let always = [
        "ACCEPT",
        "REJECT",
        "DROP",
        "MARK",
        "RETURN",
        "DNAT",
        "SNAT",
        "MASQUERADE",
    ];
    let top = [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-FORWARD",
        "KUBE-MARK-MASQ",
        "KUBE-PROXY-FIREWALL",
        "KUBE-FIREWALL",
    ];
    let mut problems = Vec::new();
    for t in parse_dump(text)? {
        let created: BTreeSet<&str> = t.chains.iter().map(|c| c.0.as_str()).collect();
        let filled: BTreeSet<&str> = t
            .chains
            .iter()
            .filter(|c| !c.2.is_empty())
            .map(|c| c.0.as_str())
            .collect();
        let mut jumped: BTreeSet<String> = BTreeSet::new();
        for c in &t.chains {
            for r in &c.2 {
                let w = split_words(r);
                if let Some(i) = w.iter().position(|x| x == "-j")
                    && let Some(to) = w.get(i + 1)
                    && !always.contains(&to.as_str())
                {
                    jumped.insert(to.clone());
                }
            }
        }
        for j in &jumped {
            if !created.contains(j.as_str()) {
                problems.push(format!("{}: {j} used but not created", t.name));
            }
            if !filled.contains(j.as_str()) && j != "KUBE-NODEPORTS" {
                problems.push(format!("{}: {j} jumped to but without rules", t.name));
            }
        }
        for c in &created {
            if !jumped.contains(*c) && !top.contains(c) {
                problems.push(format!("{}: {c} created but not used", t.name));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
