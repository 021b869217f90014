//! What one instance holds of the day's token budget.
//!
//! Every model call is paid for before it is made, by a reservation in the store that all
//! instances share (a conditional write, so they cannot together overshoot the budget). A
//! server that runs on between requests (`eve-server`) reserves a *lease* of several answers'
//! worth in one such write and hands it out to its own requests with no store call each; what
//! the requests used is written back once, when the lease is retired. A Lambda sandbox is
//! frozen the moment it has answered, so it could not return a lease's unused part in time:
//! it reserves one answer's worth per request, settled before it answers.

use std::time::{Duration, Instant};

use super::ports::TokenReservation;

/// How an instance holds budget; the front door chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// One reservation per model call, settled by the request that made it (Lambda).
    PerRequest,
    /// Leases of up to [`LEASE_ANSWERS`] answers' worth, returned when idle (eve-server).
    Leased,
}

/// Answers one lease pays for at most: each costs two store writes (take and settle) where
/// reservations per request cost two per answer.
pub const LEASE_ANSWERS: u64 = 8;
/// One lease holds at most this fraction of the day's budget, so instances near the end of
/// the day do not refuse answers because another holds what is left.
const LEASE_SHARE_OF_BUDGET: u64 = 16;
/// A lease is handed out for this long after it is taken, then retired by the next request, so
/// what the store counts stays close to what was used.
pub const LEASE_LIFETIME: Duration = Duration::from_secs(10);
/// A lease no request has drawn on for this long is returned by the server's idle release,
/// well before other instances would count it abandoned.
pub const LEASE_IDLE: Duration = Duration::from_secs(1);

/// The tokens to reserve for a request estimated at `tokens`: that alone per request, or a
/// lease of several such requests within the budget's share.
pub fn reservation_size(holding: Holding, tokens: u64, budget: u64) -> u64 {
    match holding {
        Holding::PerRequest => tokens,
        Holding::Leased => tokens
            .saturating_mul(LEASE_ANSWERS)
            .min(budget / LEASE_SHARE_OF_BUDGET)
            .max(tokens),
    }
}

/// The part of a reservation one request may spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The reservation in the store: the request's own, or the lease it draws on.
    pub reservation: TokenReservation,
    pub tokens: u64,
}

/// A reservation to replace in the store with what was used of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub reservation: TokenReservation,
    pub used: u64,
}

#[derive(Debug)]
struct Lease {
    reservation: TokenReservation,
    taken: Instant,
    last_drawn: Instant,
    /// Tokens handed to requests still running.
    handed_out: u64,
    /// Tokens the finished requests used.
    used: u64,
    holders: u32,
    /// Tokens spent or reserved today when the lease was taken (for the budget metric).
    spent_when_taken: u64,
}

impl Lease {
    /// Whether a request estimated at `tokens` may draw on it at `now`.
    fn has_room(&self, day: &str, tokens: u64, now: Instant) -> bool {
        self.reservation.day == day
            && now.duration_since(self.taken) < LEASE_LIFETIME
            && self.room() >= tokens
    }

    /// Tokens not handed out nor used.
    fn room(&self) -> u64 {
        self.reservation
            .tokens
            .saturating_sub(self.handed_out.saturating_add(self.used))
    }

    fn draw(&mut self, tokens: u64, now: Instant) -> Grant {
        self.handed_out += tokens;
        self.holders += 1;
        self.last_drawn = now;
        Grant {
            reservation: self.reservation.clone(),
            tokens,
        }
    }

    /// A request that drew `grant` ended, using `used` tokens.
    fn release(&mut self, grant: &Grant, used: u64) {
        self.handed_out = self.handed_out.saturating_sub(grant.tokens);
        self.used += used;
        self.holders = self.holders.saturating_sub(1);
    }

    fn settlement(self) -> Settlement {
        Settlement {
            reservation: self.reservation,
            used: self.used,
        }
    }
}

/// The leases of one instance: the one requests draw on, and retired ones that requests still
/// hold part of.
#[derive(Debug, Default)]
pub struct Leases {
    current: Option<Lease>,
    retired: Vec<Lease>,
}

impl Leases {
    /// `tokens` of the current lease for `day`, with the day's spending seen when it was taken;
    /// None when it has no room (or is too old, or is of another day).
    pub fn draw(&mut self, day: &str, tokens: u64, now: Instant) -> Option<(Grant, u64)> {
        let lease = self
            .current
            .as_mut()
            .filter(|lease| lease.has_room(day, tokens, now))?;
        let drawn = (lease.draw(tokens, now), lease.spent_when_taken);
        self.retire_when_full(tokens);
        Some(drawn)
    }

    /// Stops drawing on the current lease; returns it to settle when no request holds part of
    /// it (the others settle it as the last of them ends).
    pub fn retire(&mut self) -> Option<Settlement> {
        let lease = self.current.take()?;
        if lease.holders == 0 {
            return Some(lease.settlement());
        }
        self.retired.push(lease);
        None
    }

    /// A reservation just made in the store becomes the current lease, and `tokens` of it go to
    /// the request that made it; the lease it replaces (one taken meanwhile by a request that
    /// did not wait for this one) is retired, and returned to settle when none holds it.
    pub fn taken(
        &mut self,
        reservation: TokenReservation,
        tokens: u64,
        spent: u64,
        now: Instant,
    ) -> (Grant, Option<Settlement>) {
        let mut lease = Lease {
            reservation,
            taken: now,
            last_drawn: now,
            handed_out: 0,
            used: 0,
            holders: 0,
            spent_when_taken: spent,
        };
        let grant = lease.draw(tokens, now);
        let replaced = self.retire();
        self.current = Some(lease);
        self.retire_when_full(tokens);
        (grant, replaced)
    }

    /// A request that drew `grant` ended, using `used` tokens: the settlement due now, when
    /// its lease is retired and no other request holds part of it. A grant of no lease held
    /// here (its reservation's answer never came) is settled on its own.
    pub fn finish(&mut self, grant: &Grant, used: u64) -> Option<Settlement> {
        let id = &grant.reservation.request_id;
        if let Some(lease) = self
            .current
            .as_mut()
            .filter(|lease| &lease.reservation.request_id == id)
        {
            lease.release(grant, used);
            return None;
        }
        let Some(index) = self
            .retired
            .iter()
            .position(|lease| &lease.reservation.request_id == id)
        else {
            return Some(Settlement {
                reservation: grant.reservation.clone(),
                used,
            });
        };
        let lease = &mut self.retired[index];
        lease.release(grant, used);
        (lease.holders == 0).then(|| self.retired.swap_remove(index).settlement())
    }

    /// The current lease, retired to settle when no request has drawn on it for `idle`, or it
    /// is past its lifetime, and none holds part of it.
    pub fn release_idle(&mut self, idle: Duration, now: Instant) -> Option<Settlement> {
        let lease = self.current.as_ref()?;
        let unused = now.duration_since(lease.last_drawn) >= idle
            || now.duration_since(lease.taken) >= LEASE_LIFETIME;
        if unused && lease.holders == 0 {
            return self.retire();
        }
        None
    }

    /// A lease without room for another request like the last is retired at once, so the
    /// requests holding it settle it as they end rather than leave it to the next request.
    fn retire_when_full(&mut self, tokens: u64) {
        let full = self
            .current
            .as_ref()
            .is_some_and(|lease| lease.room() < tokens);
        if full {
            if let Some(lease) = self.current.take() {
                self.retired.push(lease);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation(id: &str, tokens: u64) -> TokenReservation {
        TokenReservation {
            day: "2026-12-06".into(),
            request_id: id.into(),
            tokens,
            at_s: 0,
        }
    }

    /// The settlement of reservation `id` of `tokens` to `used`.
    fn settled(id: &str, tokens: u64, used: u64) -> Option<Settlement> {
        Some(Settlement {
            reservation: reservation(id, tokens),
            used,
        })
    }

    #[test]
    fn a_reservation_per_request_is_settled_by_its_request() {
        let mut leases = Leases::default();
        let now = Instant::now();
        assert_eq!(reservation_size(Holding::PerRequest, 100, 1_000_000), 100);
        let (grant, _) = leases.taken(reservation("r1", 100), 100, 100, now);
        assert!(
            leases.draw("2026-12-06", 100, now).is_none(),
            "nothing left"
        );
        assert_eq!(leases.finish(&grant, 42), settled("r1", 100, 42));
    }

    #[test]
    fn a_lease_serves_requests_until_full_and_the_last_to_end_settles_all_they_used() {
        let mut leases = Leases::default();
        let now = Instant::now();
        let size = reservation_size(Holding::Leased, 100, 1_000_000);
        assert_eq!(size, 800);
        let (first, _) = leases.taken(reservation("lease", size), 100, 800, now);
        let mut grants = vec![first];
        for _ in 1..LEASE_ANSWERS {
            let (grant, spent) = leases.draw("2026-12-06", 100, now).expect("room left");
            assert_eq!(spent, 800);
            grants.push(grant);
        }
        assert!(leases.draw("2026-12-06", 100, now).is_none(), "full");
        let last = grants.pop().expect("grant");
        for grant in &grants {
            assert_eq!(leases.finish(grant, 40), None, "others still hold it");
        }
        assert_eq!(leases.finish(&last, 40), settled("lease", 800, 8 * 40));
    }

    #[test]
    fn used_tokens_are_taken_from_the_room_left() {
        let mut leases = Leases::default();
        let now = Instant::now();
        let (grant, _) = leases.taken(reservation("lease", 800), 100, 0, now);
        // The answer cost more than estimated (its history is not in the estimate).
        assert_eq!(leases.finish(&grant, 650), None);
        assert!(leases.draw("2026-12-06", 100, now).is_some());
        assert!(leases.draw("2026-12-06", 100, now).is_none(), "50 left");
    }

    #[test]
    fn a_lease_is_not_drawn_on_past_its_lifetime_or_its_day_and_is_returned_when_idle() {
        let mut leases = Leases::default();
        let now = Instant::now();
        let (grant, _) = leases.taken(reservation("lease", 800), 100, 0, now);
        assert!(leases.draw("2026-12-07", 100, now).is_none(), "another day");
        assert!(leases
            .draw("2026-12-06", 100, now + LEASE_LIFETIME)
            .is_none());
        assert_eq!(
            leases.release_idle(LEASE_IDLE, now + LEASE_IDLE),
            None,
            "a request still holds it"
        );
        assert_eq!(leases.finish(&grant, 30), None);
        assert_eq!(leases.release_idle(LEASE_IDLE, now), None, "just drawn on");
        assert_eq!(
            leases.release_idle(LEASE_IDLE, now + LEASE_IDLE),
            settled("lease", 800, 30)
        );
        assert_eq!(leases.release_idle(LEASE_IDLE, now + LEASE_IDLE), None);
    }

    #[test]
    fn a_retired_lease_still_held_is_settled_by_its_last_holder() {
        let mut leases = Leases::default();
        let now = Instant::now();
        let (held, _) = leases.taken(reservation("old", 800), 100, 0, now);
        assert_eq!(leases.retire(), None, "held");
        let (fresh, replaced) = leases.taken(reservation("new", 800), 100, 0, now);
        assert_eq!(replaced, None);
        assert_eq!(leases.finish(&fresh, 10), None);
        assert_eq!(leases.finish(&held, 20), settled("old", 800, 20));
    }

    #[test]
    fn a_lease_replaced_while_no_request_holds_it_is_settled() {
        let mut leases = Leases::default();
        let now = Instant::now();
        let (grant, _) = leases.taken(reservation("first", 800), 100, 0, now);
        assert_eq!(leases.finish(&grant, 25), None);
        // Another request reserved without waiting (its own, of a size the budget allowed).
        let (_, replaced) = leases.taken(reservation("second", 800), 100, 0, now);
        assert_eq!(replaced, settled("first", 800, 25));
    }

    #[test]
    fn a_small_budget_is_reserved_per_request_even_when_leasing() {
        // A lease may hold a sixteenth of the day at most, never less than one request.
        assert_eq!(reservation_size(Holding::Leased, 400, 3_000), 400);
        assert_eq!(reservation_size(Holding::Leased, 100, 3_200), 200);
    }

    #[test]
    fn a_grant_of_a_lease_not_held_here_is_settled_alone() {
        let mut leases = Leases::default();
        let grant = Grant {
            reservation: reservation("unconfirmed", 800),
            tokens: 100,
        };
        assert_eq!(leases.finish(&grant, 0), settled("unconfirmed", 800, 0));
    }
}
