import Namespace
import Runtime
import Testing

/// The ledger's arithmetic and windows alone, with times given by the test.
@Suite struct LedgerTests {
    let day = Ledger.dayMs
    let t0: Int64 = 1_780_000_000_000  // some time in 2026

    @Test func reservationsCountAgainstEveryLimitAndRefusalsChangeNothing() throws {
        var l = Ledger()
        let limits = BudgetLimits(life: 1000, perDay: 600, perTick: 400, perJob: 300)
        try l.reserve(300, limits: limits, now: t0, tick: 1)
        #expect(l.reserved == 300)
        #expect(throws: Ledger.Refusal(limit: "per-job", limitValue: 300, wouldBe: 301)) { try l.reserve(301, limits: limits, now: t0, tick: 1) }
        #expect(throws: Ledger.Refusal(limit: "per-tick", limitValue: 400, wouldBe: 600)) { try l.reserve(300, limits: limits, now: t0, tick: 1) }
        #expect(l == Ledger(reserved: 300, day: Ledger.day(of: t0), tick: 1))
        try l.reserve(100, limits: limits, now: t0, tick: 1)
        #expect(l.reserved == 400)
        // Settling charges the cost (at most the reservation) and frees the rest.
        #expect(l.settle(reservation: 300, cost: 120, now: t0, tick: 1) == 120)
        #expect(l.settle(reservation: 100, cost: 5000, now: t0, tick: 1) == 100)
        #expect(l.reserved == 0 && l.spent == 220 && l.daySpent == 220 && l.tickSpent == 220)
    }

    @Test func theTickWindowResetsWhenTheTickMovesAndNotBefore() throws {
        var l = Ledger()
        let limits = BudgetLimits(perTick: 100)
        try l.reserve(100, limits: limits, now: t0, tick: 7)
        l.settle(reservation: 100, cost: 100, now: t0, tick: 7)
        #expect(throws: Ledger.Refusal.self) { try l.reserve(1, limits: limits, now: t0 + 1, tick: 7) }
        try l.reserve(100, limits: limits, now: t0 + 2, tick: 8)
        #expect(l.tick == 8 && l.tickSpent == 0 && l.reserved == 100 && l.spent == 100)
        // A window never moves back.
        l.roll(now: t0, tick: 3)
        #expect(l.tick == 8)
    }

    @Test func theDayWindowResetsAtUTCMidnight() throws {
        let midnight = (t0 / day + 1) * day
        var l = Ledger()
        let limits = BudgetLimits(life: 10_000, perDay: 500)
        try l.reserve(500, limits: limits, now: midnight - 1, tick: 1)
        l.settle(reservation: 500, cost: 500, now: midnight - 1, tick: 1)
        #expect(throws: Ledger.Refusal(limit: "per-day", limitValue: 500, wouldBe: 501)) { try l.reserve(1, limits: limits, now: midnight - 1, tick: 2) }
        try l.reserve(500, limits: limits, now: midnight, tick: 2)
        #expect(l.daySpent == 0 && l.day == Ledger.day(of: midnight) && l.spent == 500)
        // Open reservations carry into the new day: they are still at risk.
        var m = Ledger()
        try m.reserve(400, limits: limits, now: midnight - 1, tick: 1)
        #expect(throws: Ledger.Refusal.self) { try m.reserve(200, limits: limits, now: midnight + 5, tick: 1) }
        #expect(Ledger.day(of: -1) == -1 && Ledger.day(of: 0) == 0 && Ledger.day(of: day - 1) == 0)
    }

    @Test func usageShowsMovedWindowsAtZero() throws {
        var l = Ledger()
        try l.reserve(50, limits: .none, now: t0, tick: 1)
        l.settle(reservation: 50, cost: 40, now: t0, tick: 1)
        let later = l.usage(now: t0 + 2 * day, tick: 5)
        #expect(later["spent"] == .integer(40) && later["per_day"]?["spent"] == .integer(0) && later["per_tick"]?["spent"] == .integer(0))
        #expect(l.usage(now: t0, tick: 1)["per_tick"]?["spent"] == .integer(40))
    }

    @Test func hugeNumbersSaturateInsteadOfTrapping() throws {
        var l = Ledger(spent: .max - 1)
        #expect(throws: Ledger.Refusal.self) { try l.reserve(.max, limits: BudgetLimits(life: .max - 1), now: t0, tick: 1) }
        try l.reserve(.max, limits: .none, now: t0, tick: 1)
        #expect(l.reserved == .max)
        l.settle(reservation: .max, cost: .max, now: t0, tick: 1)
        #expect(l.spent == .max && l.reserved == 0)
        #expect(Money.cost(tokens: .max, pricePerMillion: .max) == .max)
        #expect(Money.cost(tokens: 1, pricePerMillion: 1) == 1)  // rounds up: never free by rounding
        #expect(Money.cost(tokens: 1_000_000, pricePerMillion: 150_000) == 150_000)
        #expect(Money.tokensCovered(by: 150_000, pricePerMillion: 150_000) == 1_000_000)
        #expect(Money.tokensCovered(by: .max, pricePerMillion: 1) == .max)
        #expect(Money.tokensCovered(by: 9_223_372_036_854_999, pricePerMillion: 1000) == .max)  // the remainder's share saturates
        #expect(Money.format(1_234_567) == "$1.234567")
    }
}
