//! Users merged into another, for the requester figures: the kept counts and chains know only
//! the requester recorded on each ticket, and merged users are few, so every way of counting a
//! window's requesters counts them as recorded and then puts each merged group in place of its
//! members.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

/// Users merged into another, by the kept one.
pub(super) struct Merges {
    into: HashMap<Uuid, Uuid>,
    groups: HashMap<Uuid, Vec<Uuid>>,
}

impl Merges {
    pub(super) fn new(pairs: Vec<(Uuid, Uuid)>) -> Self {
        let mut groups: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (id, kept) in &pairs {
            groups.entry(*kept).or_insert_with(|| vec![*kept]).push(*id);
        }
        Self {
            into: pairs.into_iter().collect(),
            groups,
        }
    }

    /// Every merge in the directory (the partial index on `merged_into` lists them).
    pub(super) async fn read(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        Ok(Self::new(
            sqlx::query_as("SELECT id, merged_into FROM users WHERE merged_into IS NOT NULL")
                .fetch_all(conn)
                .await?,
        ))
    }

    /// The user `id`'s tickets count for.
    pub(super) fn kept(&self, id: Uuid) -> Uuid {
        self.into.get(&id).copied().unwrap_or(id)
    }

    /// The users others were merged into.
    pub(super) fn kept_users(&self) -> impl Iterator<Item = &Uuid> {
        self.groups.keys()
    }

    /// Every member of every group, the kept users with them.
    pub(super) fn group_members(&self) -> Vec<Uuid> {
        self.members(self.kept_users())
    }

    /// The recorded requesters that count for each of `kept`.
    pub(super) fn members<'a>(&'a self, kept: impl IntoIterator<Item = &'a Uuid>) -> Vec<Uuid> {
        kept.into_iter()
            .flat_map(|id| self.groups.get(id).cloned().unwrap_or_else(|| vec![*id]))
            .collect()
    }

    /// `counts` of recorded requesters summed by the user they count for.
    pub(super) fn sum(&self, counts: &HashMap<Uuid, i64>) -> HashMap<Uuid, i64> {
        let mut out: HashMap<Uuid, i64> = HashMap::new();
        for (id, n) in counts {
            *out.entry(self.kept(*id)).or_default() += n;
        }
        out.retain(|_, n| *n > 0);
        out
    }

    /// What counting each group as one person adds to `(unique, recurring)` counted over
    /// recorded requesters, given the tickets of every group member (`counts`; absent is none).
    pub(super) fn regrouped(&self, counts: &HashMap<Uuid, i64>) -> (i64, i64) {
        let (mut unique, mut recurring) = (0, 0);
        for group in self.groups.values() {
            let each: Vec<i64> = group
                .iter()
                .map(|id| counts.get(id).copied().unwrap_or(0))
                .collect();
            let all: i64 = each.iter().sum();
            let apart = |least: i64| each.iter().filter(|n| **n >= least).count() as i64;
            unique += i64::from(all >= 1) - apart(1);
            recurring += i64::from(all >= 2) - apart(2);
        }
        (unique, recurring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merged_group_counts_for_the_kept_user() {
        let (kept, merged, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let merges = Merges::new(vec![(merged, kept)]);
        let counts = HashMap::from([(kept, 1), (merged, 2), (other, 1)]);
        assert_eq!(merges.sum(&counts), HashMap::from([(kept, 3), (other, 1)]));
        let mut members = merges.members([&kept, &other]);
        members.sort();
        assert_eq!(members, vec![kept, merged, other]);
    }

    #[test]
    fn a_group_is_one_person_however_its_tickets_were_recorded() {
        let (kept, merged) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let merges = Merges::new(vec![(merged, kept)]);
        // Recorded: two people with one ticket each; as one person: one recurring requester.
        let counts = HashMap::from([(kept, 1), (merged, 1)]);
        assert_eq!(merges.regrouped(&counts), (-1, 1));
        // Recorded: one with three tickets, one with none: already one recurring person.
        let counts = HashMap::from([(merged, 3)]);
        assert_eq!(merges.regrouped(&counts), (0, 0));
        // Recorded: two recurring people become one.
        let counts = HashMap::from([(kept, 2), (merged, 5)]);
        assert_eq!(merges.regrouped(&counts), (-1, -1));
    }
}
