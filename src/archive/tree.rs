//! The names of an archive as a tree of components, with a fixed budget.
//!
//! Each file or folder is one node holding its parent and its own name (one
//! component), so a member `a/b/c` costs what `c` costs, not what its whole
//! path and every ancestor's path would. All names live in one arena; lookups
//! go through a hash table of node numbers keyed by (parent, name) with a
//! randomly keyed SipHash, so a hostile archive can neither flood the table nor
//! grow it beyond [`MAX_TREE_NODES`] nodes and [`MAX_TREE_NAME_BYTES`] bytes of
//! names: together a few tens of MiB at most, whatever the archive.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::{ArchiveError, MemberPath};

/// More files and folders than this (counting folders only implied by a
/// member's name) is not an export from SecureDrop; refuse it.
pub const MAX_TREE_NODES: usize = 200_000;
/// The distinct names of all files and folders together may take this many
/// bytes (each name counted once, not once per member below it).
pub const MAX_TREE_NAME_BYTES: usize = 8 * 1024 * 1024;

/// A node number; 0 is the archive root.
pub type NodeId = u32;

const ROOT: NodeId = 0;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A folder only named as the parent of another member.
    ImpliedDir,
    /// A folder with its own member.
    Dir,
    File,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    parent: NodeId,
    name_start: u32,
    name_len: u8,
    kind: Kind,
}

/// Every file and folder named in an archive.
pub struct NameTree {
    nodes: Vec<Node>,
    names: String,
    index: HashTable<NodeId>,
    hasher: RandomState,
}

impl Default for NameTree {
    fn default() -> Self {
        NameTree {
            nodes: vec![Node {
                parent: ROOT,
                name_start: 0,
                name_len: 0,
                kind: Kind::Dir,
            }],
            names: String::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }
}

impl NameTree {
    /// Adds a member: a file, or a folder. Refuses a name that is already a
    /// file, a file where a folder is, a file below a file, and anything past
    /// the budget.
    pub fn add(&mut self, path: &MemberPath, is_file: bool) -> Result<NodeId, ArchiveError> {
        let mut parent = ROOT;
        let mut components = path.components().peekable();
        while let Some(component) = components.next() {
            let last = components.peek().is_none();
            let existing = self.child(parent, component);
            parent = match (existing, last) {
                (Some(node), false) => {
                    if self.kind(node) == Kind::File {
                        return Err(ArchiveError::Duplicate(self.path(node)));
                    }
                    node
                }
                (Some(node), true) => {
                    let kind = self.kind(node);
                    if is_file || kind == Kind::File {
                        return Err(ArchiveError::Duplicate(path.as_str().to_owned()));
                    }
                    self.set_kind(node, Kind::Dir);
                    node
                }
                (None, last) => {
                    let kind = match (last, is_file) {
                        (true, true) => Kind::File,
                        (true, false) => Kind::Dir,
                        (false, _) => Kind::ImpliedDir,
                    };
                    self.insert(parent, component, kind)?
                }
            };
        }
        Ok(parent)
    }

    /// The node of a member already added, if any.
    pub fn find(&self, path: &MemberPath) -> Option<NodeId> {
        path.components()
            .try_fold(ROOT, |parent, component| self.child(parent, component))
    }

    /// The node of a top-level name, if any.
    pub fn find_top(&self, name: &str) -> Option<NodeId> {
        self.child(ROOT, name)
    }

    pub fn kind(&self, node: NodeId) -> Kind {
        self.node(node).map_or(Kind::ImpliedDir, |n| n.kind)
    }

    /// The path of `node` below its ancestor `top` (`a/b` for `top/a/b`);
    /// the whole path when `top` is not an ancestor.
    pub fn path_below(&self, node: NodeId, top: NodeId) -> String {
        let mut names = Vec::new();
        let mut at = node;
        while at != top && at != ROOT {
            let Some(n) = self.node(at) else { break };
            names.push(self.name(n));
            at = n.parent;
        }
        names.reverse();
        names.join("/")
    }

    /// The whole path of `node` from the archive root.
    pub fn path(&self, node: NodeId) -> String {
        self.path_below(node, ROOT)
    }

    /// How many files and folders, and how many bytes of names.
    pub fn usage(&self) -> (usize, usize) {
        (self.nodes.len() - 1, self.names.len())
    }

    fn child(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        let hash = self.hasher.hash_one((parent, name));
        self.index
            .find(hash, |&id| {
                self.node(id)
                    .is_some_and(|n| n.parent == parent && self.name(n) == name)
            })
            .copied()
    }

    fn insert(&mut self, parent: NodeId, name: &str, kind: Kind) -> Result<NodeId, ArchiveError> {
        let over = self.nodes.len() > MAX_TREE_NODES
            || self.names.len() + name.len() > MAX_TREE_NAME_BYTES;
        let (Some(name_len), Ok(id), false) = (
            u8::try_from(name.len()).ok(),
            NodeId::try_from(self.nodes.len()),
            over,
        ) else {
            return Err(ArchiveError::NamesOverBudget);
        };
        // Grow the arena at most to the budget, not to twice what is needed.
        let needed = self.names.len() + name.len();
        if needed > self.names.capacity() {
            let grown = (self.names.capacity() * 2).clamp(needed, MAX_TREE_NAME_BYTES);
            self.names.reserve_exact(grown - self.names.len());
        }
        let name_start =
            u32::try_from(self.names.len()).map_err(|_| ArchiveError::NamesOverBudget)?;
        self.names.push_str(name);
        self.nodes.push(Node {
            parent,
            name_start,
            name_len,
            kind,
        });
        let hash = self.hasher.hash_one((parent, name));
        let (nodes, names, hasher) = (&self.nodes, &self.names, &self.hasher);
        self.index.insert_unique(hash, id, |&other| {
            let n = nodes.get(other as usize);
            let name = n.map_or("", |n| node_name(names, n));
            hasher.hash_one((n.map_or(ROOT, |n| n.parent), name))
        });
        Ok(id)
    }

    fn set_kind(&mut self, node: NodeId, kind: Kind) {
        if let Some(n) = self.nodes.get_mut(node as usize) {
            n.kind = kind;
        }
    }

    fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    fn name(&self, node: &Node) -> &str {
        node_name(&self.names, node)
    }
}

fn node_name<'a>(names: &'a str, node: &Node) -> &'a str {
    let start = node.name_start as usize;
    names
        .get(start..start + usize::from(node.name_len))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> MemberPath {
        MemberPath::parse(s.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn stores_each_name_once_and_finds_it_again() {
        let mut tree = NameTree::default();
        let file = tree.add(&path("export_data/src/a.txt"), true).unwrap();
        let dir = tree.add(&path("export_data/src"), false).unwrap();
        tree.add(&path("export_data/src/b.txt"), true).unwrap();
        assert_eq!(tree.find(&path("export_data/src/a.txt")), Some(file));
        assert_eq!(tree.find(&path("export_data/src")), Some(dir));
        assert_eq!(tree.find(&path("export_data/a.txt")), None);
        assert_eq!(tree.kind(dir), Kind::Dir);
        assert_eq!(tree.kind(file), Kind::File);
        let top = tree.find_top("export_data").unwrap();
        assert_eq!(tree.kind(top), Kind::ImpliedDir);
        assert_eq!(tree.path_below(file, top), "src/a.txt");
        assert_eq!(tree.path(file), "export_data/src/a.txt");
        // export_data, src, a.txt, b.txt: 4 nodes, each name once.
        assert_eq!(tree.usage(), (4, "export_datasrca.txtb.txt".len()));
    }

    #[test]
    fn refuses_duplicates_and_clashes() {
        let mut tree = NameTree::default();
        tree.add(&path("a/b"), true).unwrap();
        assert!(matches!(
            tree.add(&path("a/b"), true),
            Err(ArchiveError::Duplicate(_))
        ));
        assert!(matches!(
            tree.add(&path("a/b"), false),
            Err(ArchiveError::Duplicate(_))
        ));
        assert!(matches!(
            tree.add(&path("a/b/c"), true),
            Err(ArchiveError::Duplicate(_))
        ));
        assert!(matches!(
            tree.add(&path("a"), true),
            Err(ArchiveError::Duplicate(_))
        ));
        // A folder may be named again as a folder.
        tree.add(&path("a"), false).unwrap();
        tree.add(&path("a"), false).unwrap();
    }

    #[test]
    fn deep_members_cost_their_own_names_only() {
        let mut tree = NameTree::default();
        let deep = vec!["d"; 100].join("/");
        for i in 0..200 {
            tree.add(&path(&format!("{deep}/file-{i}")), true).unwrap();
        }
        let (nodes, bytes) = tree.usage();
        assert_eq!(nodes, 100 + 200);
        assert!(bytes < 100 + 200 * 9, "{bytes}");
    }

    #[test]
    fn refuses_past_the_node_budget() {
        let mut tree = NameTree::default();
        let mut refused = None;
        for i in 0..=MAX_TREE_NODES {
            if let Err(e) = tree.add(&path(&format!("{i}")), true) {
                refused = Some((i, e));
                break;
            }
        }
        let (at, error) = refused.expect("the budget ends somewhere");
        assert_eq!(error, ArchiveError::NamesOverBudget);
        assert_eq!(at, MAX_TREE_NODES);
    }

    #[test]
    fn refuses_past_the_name_byte_budget() {
        let mut tree = NameTree::default();
        let long = "n".repeat(250);
        let mut added = 0usize;
        let error = loop {
            match tree.add(&path(&format!("{long}{added:05}")), true) {
                Ok(_) => added += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(error, ArchiveError::NamesOverBudget);
        assert_eq!(added, MAX_TREE_NAME_BYTES / 255);
        assert!(tree.names.capacity() <= MAX_TREE_NAME_BYTES);
    }
}
