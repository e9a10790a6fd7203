//! The DAG as a petgraph graph: built once by `resolve`, read by the scheduler (in-degrees and
//! dependents), by `dag` (its edges, in each stage's input order) and by target selection
//! (the upstream closure).
//!
//! Node `i` of the graph is `Project::nodes[i]`; an edge `a → b` means `b` reads `a`, and its
//! weight is `a`'s position among `b`'s inputs (the first input is the stage's `input:`, the
//! others its auxiliary inputs), so every walk can give inputs in the order the spec gives them.

use std::collections::{BTreeSet, HashMap};

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// The data-flow graph of a project's nodes, and their names.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    graph: DiGraph<(), usize, u32>,
    by_name: HashMap<String, usize>,
}

impl Dag {
    /// The graph of a project's nodes (each node's `inputs`), with a name index.
    pub(crate) fn of(nodes: &[super::Node]) -> Self {
        let mut dag = Self::new(nodes.len(), |i| &nodes[i].inputs);
        dag.by_name = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        dag
    }

    /// The node of that name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// A graph of `n` nodes whose node `i` reads `inputs(i)`, in that order.
    pub(crate) fn new<'a>(n: usize, inputs: impl Fn(usize) -> &'a [usize]) -> Self {
        let mut graph = DiGraph::with_capacity(n, n);
        for _ in 0..n {
            graph.add_node(());
        }
        for to in 0..n {
            for (pos, &from) in inputs(to).iter().enumerate() {
                graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), pos);
            }
        }
        Self {
            graph,
            by_name: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The nodes `i` reads, in input order (a node read twice appears twice).
    pub fn inputs(&self, i: usize) -> Vec<usize> {
        let mut edges: Vec<(usize, usize)> = self
            .graph
            .edges_directed(NodeIndex::new(i), Incoming)
            .map(|e| (*e.weight(), e.source().index()))
            .collect();
        edges.sort_unstable();
        edges.into_iter().map(|(_, from)| from).collect()
    }

    /// The nodes that read `i`, in ascending order, once per edge.
    pub fn dependents(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .graph
            .neighbors_directed(NodeIndex::new(i), Outgoing)
            .map(NodeIndex::index)
            .collect();
        out.sort_unstable();
        out
    }

    /// How many edges come into `i` from nodes `counts` says to count.
    pub fn in_degree(&self, i: usize, counts: impl Fn(usize) -> bool) -> usize {
        self.graph
            .neighbors_directed(NodeIndex::new(i), Incoming)
            .filter(|n| counts(n.index()))
            .count()
    }

    /// Every edge as `(from, to)`, ordered by `to` and then by input position: the order
    /// `dag` prints them in.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        let mut edges: Vec<(usize, usize, usize)> = self
            .graph
            .edge_references()
            .map(|e| (e.target().index(), *e.weight(), e.source().index()))
            .collect();
        edges.sort_unstable();
        edges.into_iter().map(|(to, _, from)| (from, to)).collect()
    }

    /// `targets` and everything they depend on.
    pub fn upstream_closure(&self, targets: &[usize]) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<usize> = targets.to_vec();
        while let Some(i) = stack.pop() {
            if out.insert(i) {
                stack.extend(
                    self.graph
                        .neighbors_directed(NodeIndex::new(i), Incoming)
                        .map(NodeIndex::index),
                );
            }
        }
        out
    }
}

/// A topological order of `n` nodes where node `i` reads `inputs(i)`, ties broken by index
/// (Kahn's algorithm on a petgraph graph with a ready set ordered by index: O((n + e) log n)).
/// On a cycle, returns one cycle as `Err`, in reading order: each node reads the next one's
/// predecessor… precisely, `c[k]` reads `c[k + 1]`, and the last reads the first.
pub fn topological_order<'a>(
    n: usize,
    inputs: impl Fn(usize) -> &'a [usize],
) -> Result<Vec<usize>, Vec<usize>> {
    let dag = Dag::new(n, &inputs);
    let mut indegree: Vec<usize> = (0..n).map(|i| inputs(i).len()).collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for j in dag.dependents(i) {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left over reads a node left over: follow first inputs among them until a node
    // repeats; that is a cycle.
    let mut placed = vec![false; n];
    for &i in &order {
        placed[i] = true;
    }
    let start = (0..n).find(|&i| !placed[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut seen = vec![usize::MAX; n];
    seen[start] = 0;
    let mut cur = start;
    loop {
        let Some(&next) = inputs(cur).iter().find(|&&x| !placed[x]) else {
            return Err(path);
        };
        if seen[next] != usize::MAX {
            return Err(path[seen[next]..].to_vec());
        }
        seen[next] = path.len();
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_breaks_ties_by_index_and_keeps_inputs_first() {
        let inputs: Vec<Vec<usize>> = vec![vec![2], vec![], vec![1], vec![]];
        let order = topological_order(4, |i| &inputs[i]).unwrap();
        assert_eq!(order, vec![1, 2, 0, 3]);
    }

    #[test]
    fn a_cycle_is_returned_in_reading_order() {
        // 0 reads 1, 1 reads 2, 2 reads 0; 3 reads 0 (outside the cycle).
        let inputs: Vec<Vec<usize>> = vec![vec![1], vec![2], vec![0], vec![0]];
        let cycle = topological_order(4, |i| &inputs[i]).unwrap_err();
        assert_eq!(cycle, vec![0, 1, 2]);
        let self_loop: Vec<Vec<usize>> = vec![vec![], vec![1]];
        assert_eq!(
            topological_order(2, |i| &self_loop[i]).unwrap_err(),
            vec![1]
        );
    }

    #[test]
    fn edges_keep_input_order_and_closure_follows_inputs() {
        let inputs: Vec<Vec<usize>> = vec![vec![], vec![], vec![1, 0], vec![2], vec![1]];
        let dag = Dag::new(5, |i| &inputs[i]);
        assert_eq!(dag.inputs(2), vec![1, 0]);
        assert_eq!(dag.edges(), vec![(1, 2), (0, 2), (2, 3), (1, 4)]);
        assert_eq!(dag.dependents(1), vec![2, 4]);
        assert_eq!(
            dag.upstream_closure(&[3]),
            [0, 1, 2, 3].into_iter().collect()
        );
        assert_eq!(dag.in_degree(2, |x| x != 0), 1);
    }

    #[test]
    fn ten_thousand_nodes_in_a_chain_and_a_fan() {
        let n = 10_000;
        let inputs: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        assert_eq!(topological_order(n, |i| &inputs[i]).unwrap().len(), n);
        let fan: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![0] })
            .collect();
        let dag = Dag::new(n, |i| &fan[i]);
        assert_eq!(dag.dependents(0).len(), n - 1);
    }
}
