//! "Did you mean ...?": the closest valid spelling of a mistyped word.

/// The candidate that `input` most likely misspells, if any is close enough to be a typo.
///
/// Case and `_` versus `-` do not count as differences; otherwise up to two edits (insert, delete,
/// replace, swap two neighbours) are forgiven, and fewer than half of the input's length.
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input = normalize(input);
    candidates
        .iter()
        .map(|&candidate| (distance(&input, &normalize(candidate)), candidate))
        .filter(|&(d, _)| d <= 2 && 2 * d < input.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, candidate)| candidate)
}

fn normalize(word: &str) -> Vec<char> {
    word.chars().map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() }).collect()
}

/// Optimal string alignment distance: Levenshtein plus the swap of two neighbours.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests;
