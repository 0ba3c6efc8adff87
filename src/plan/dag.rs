//! Graph algorithms over node indices: cycles (every strongly connected component that loops,
//! each with one concrete cycle to print) and topological levels.
//!
//! Iterative throughout, so a 100 000-node chain cannot overflow the stack.

/// Every cycle group in the graph, each as one concrete cycle `[a, b, c]` meaning
/// `a -> b -> c -> a`, where an edge `x -> y` means "x depends on y".
pub fn cycles(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = deps.len();
    // Tarjan's SCC, iterative.
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut components = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&w) = deps[v].get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let loops = component.len() > 1 || deps[v].contains(&v);
                if loops {
                    components.push(component);
                }
            }
        }
    }
    let mut found: Vec<Vec<usize>> = components
        .into_iter()
        .map(|c| one_cycle(deps, &c))
        .collect();
    found.sort();
    found
}

/// A concrete cycle inside a strongly connected component, starting at its smallest index.
fn one_cycle(deps: &[Vec<usize>], component: &[usize]) -> Vec<usize> {
    let start = *component.iter().min().expect("components are never empty");
    let members: std::collections::HashSet<usize> = component.iter().copied().collect();
    let member = |x: usize| members.contains(&x);
    // Breadth-first search from `start` back to `start` within the component.
    let mut parent = std::collections::HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &deps[v] {
            if !member(w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

/// The level of each node (0 for no dependencies, else 1 + the deepest dependency).
/// Call only on an acyclic graph.
pub fn levels(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut dependants = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    for (v, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependants[d].push(v);
        }
    }
    let mut level = vec![0; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| waiting[v] == 0).collect();
    while let Some(v) = ready.pop() {
        for &w in &dependants[v] {
            level[w] = level[w].max(level[v] + 1);
            waiting[w] -= 1;
            if waiting[w] == 0 {
                ready.push(w);
            }
        }
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_once() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 -> 0 (downstream of a cycle, not on one)
        let deps = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        assert_eq!(cycles(&deps), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn levels_of_a_diamond() {
        let deps = vec![vec![], vec![0], vec![0], vec![1, 2]];
        assert_eq!(levels(&deps), vec![0, 1, 1, 2]);
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let deps: Vec<Vec<usize>> = (0..200_000)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        assert!(cycles(&deps).is_empty());
        assert_eq!(levels(&deps)[199_999], 199_999);
    }
}
