//! Whole cases split over processes, for `danie eval` and `danie predict`: a launched run's ranks
//! ([`Dist`]) or nnU-Net-style parts (`--num-parts K --part-id I`), each taking the cases
//! [`shard_cases`] gives it. Under a launcher the ranks agree after every round of cases
//! ([`Share::for_each`]), so one rank's bad file stops every rank within one case's time, each
//! naming the file, instead of leaving the others waiting in a later collective.
use anyhow::Context;

use crate::distributed::{shard_cases, Dist};

/// This process's share of a list of cases.
#[derive(Clone, Copy)]
pub struct Share<'a> {
    part: usize,
    parts: usize,
    dist: Option<&'a Dist>,
}

impl<'a> Share<'a> {
    /// Every case (one process).
    pub fn whole() -> Self {
        Self {
            part: 0,
            parts: 1,
            dist: None,
        }
    }

    /// Part `part` of `parts`, run by hand (`--num-parts/--part-id`): no process group, so no
    /// agreement; each part stands alone.
    pub fn part(part: usize, parts: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(parts >= 1, "--num-parts 0: give 1 or more parts");
        anyhow::ensure!(
            part < parts,
            "--part-id {part} is not below --num-parts {parts} (parts are numbered from 0 to {})",
            parts - 1
        );
        Ok(Self {
            part,
            parts,
            dist: None,
        })
    }

    /// Whole, or the rank's share of a launched run.
    pub fn of(dist: Option<&'a Dist>) -> Self {
        match dist {
            Some(d) => Self {
                part: d.rank(),
                parts: d.world_size(),
                dist: Some(d),
            },
            None => Self::whole(),
        }
    }

    /// This share's index (rank or part id).
    pub fn index(&self) -> usize {
        self.part
    }

    /// The number of shares (world size or parts).
    pub fn count(&self) -> usize {
        self.parts
    }

    /// The process group, for a launched run.
    pub fn dist(&self) -> Option<&'a Dist> {
        self.dist
    }

    /// Whether this process writes what is written once (tables, summaries): rank 0 of a
    /// launched run, every process otherwise (a part writes its own outputs only).
    pub fn is_main(&self) -> bool {
        self.dist.is_none_or(Dist::is_main)
    }

    /// This share's cases of `0..n`: `index, index + count, ...`.
    pub fn cases(&self, n: usize) -> Vec<usize> {
        shard_cases(n, self.part, self.parts)
    }

    /// `outcome` on every rank if it succeeded on every rank; otherwise an error on every rank
    /// naming each rank that failed and why (its file). Without a process group, `outcome`.
    pub fn agree<T>(&self, outcome: anyhow::Result<T>) -> anyhow::Result<T> {
        let Some(d) = self.dist else {
            return outcome;
        };
        // Never an empty message: `+` for success, `-` and the error's chain for a failure.
        let mine = match &outcome {
            Ok(_) => b"+".to_vec(),
            Err(e) => format!("-{e:#}").into_bytes(),
        };
        let all = d
            .group()
            .all_gather_bytes(&mine)
            .with_context(|| format!("rank {} could not hear from the others", d.rank()))?;
        let failed: Vec<String> = all
            .iter()
            .enumerate()
            .filter_map(|(rank, b)| {
                let text = String::from_utf8_lossy(b);
                let why = text.strip_prefix('-')?;
                Some(format!("rank {rank}: {why}"))
            })
            .collect();
        if failed.is_empty() {
            return outcome;
        }
        anyhow::bail!(
            "{} of {} ranks failed, so every rank stops: {}",
            failed.len(),
            d.world_size(),
            failed.join("; ")
        )
    }

    /// Runs `work` on each of this share's cases of `0..n`, in order. Under a launcher, the
    /// ranks agree ([`Self::agree`]) after each round (every rank's k-th case), so a rank waits
    /// at most one case for the others, and all stop at the first round where any failed.
    pub fn for_each(
        &self,
        n: usize,
        mut work: impl FnMut(usize) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mine = self.cases(n);
        if self.dist.is_none() {
            return mine.into_iter().try_for_each(work);
        }
        // Rank 0 has the most cases: its count is the number of rounds.
        let rounds = shard_cases(n, 0, self.parts).len();
        for k in 0..rounds {
            let done = match mine.get(k) {
                Some(&i) => work(i),
                None => Ok(()),
            };
            self.agree(done)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_case_once_and_bad_parts_are_refused() {
        let mut seen = vec![0; 7];
        for p in 0..3 {
            let s = Share::part(p, 3).unwrap();
            s.for_each(7, |i| {
                seen[i] += 1;
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(seen, vec![1; 7]);
        assert_eq!(Share::whole().cases(3), vec![0, 1, 2]);
        let e = Share::part(2, 2).err().unwrap().to_string();
        assert!(
            e.contains("--part-id 2") && e.contains("--num-parts 2"),
            "{e}"
        );
        assert!(Share::part(0, 0).is_err());
    }

    #[test]
    fn a_part_stops_at_its_first_failure() {
        let mut done = Vec::new();
        let e = Share::whole()
            .for_each(5, |i| {
                anyhow::ensure!(i != 2, "case {i} is broken");
                done.push(i);
                Ok(())
            })
            .unwrap_err();
        assert_eq!(e.to_string(), "case 2 is broken");
        assert_eq!(done, vec![0, 1]);
    }
}
