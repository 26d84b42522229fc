//! The delta of an output that is a set of lines or records (env
//! variables, DNS records): what was added and what was removed.

use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

/// Items added and removed, each side in its output's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delta<T> {
    /// In the new output, not in the old.
    pub added: Vec<T>,
    /// In the old output, not in the new.
    pub removed: Vec<T>,
}

impl<T> Default for Delta<T> {
    fn default() -> Self {
        Delta {
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl<T: Clone + Eq + Hash> Delta<T> {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// The items of `new` not in `old` and of `old` not in `new`, counted
    /// as multisets.
    pub fn between(old: &[T], new: &[T]) -> Delta<T> {
        if old == new {
            return Delta::default();
        }
        let mut count: HashMap<&T, isize> = HashMap::with_capacity(old.len());
        for x in old {
            *count.entry(x).or_default() += 1;
        }
        let mut added = Vec::new();
        for x in new {
            match count.get_mut(x) {
                Some(n) if *n > 0 => *n -= 1,
                _ => added.push(x.clone()),
            }
        }
        let mut removed = Vec::new();
        for x in old.iter().rev() {
            if let Some(n) = count.get_mut(x)
                && *n > 0
            {
                *n -= 1;
                removed.push(x.clone());
            }
        }
        removed.reverse();
        Delta { added, removed }
    }

    /// `old` with the removed items taken out and the added ones appended.
    pub fn apply(&self, old: &[T]) -> Vec<T> {
        let mut gone: HashMap<&T, usize> = HashMap::new();
        for x in &self.removed {
            *gone.entry(x).or_default() += 1;
        }
        let mut out: Vec<T> = Vec::with_capacity(old.len() + self.added.len());
        for x in old {
            match gone.get_mut(x) {
                Some(n) if *n > 0 => *n -= 1,
                _ => out.push(x.clone()),
            }
        }
        out.extend(self.added.iter().cloned());
        out
    }
}

/// `-LINE` for each removed item, then `+LINE` for each added one.
impl<T: fmt::Display> fmt::Display for Delta<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.removed {
            writeln!(f, "-{x}")?;
        }
        for x in &self.added {
            writeln!(f, "+{x}")?;
        }
        Ok(())
    }
}
