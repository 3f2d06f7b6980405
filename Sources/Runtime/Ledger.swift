public import Namespace

/// An agent's spending limits for one account (compute, containers), integer micro-USD; nil is
/// no limit. From the account's policy file.
public struct BudgetLimits: Sendable, Equatable {
    /// For the agent's whole life.
    public var life: Int64?
    /// Per UTC day.
    public var perDay: Int64?
    /// Per tick of the agent (see `Ledger`).
    public var perTick: Int64?
    /// For any one job or exec.
    public var perJob: Int64?

    public init(life: Int64? = nil, perDay: Int64? = nil, perTick: Int64? = nil, perJob: Int64? = nil) {
        self.life = life
        self.perDay = perDay
        self.perTick = perTick
        self.perJob = perJob
    }

    public static let none = BudgetLimits()
}

/// One agent's spending in one account: the arithmetic and the windows, no I/O. The store keeps
/// one of these per (agent, account) and runs `reserve` and `settle` inside the transaction that
/// writes the job, so admission and reservation are one atomic step.
///
/// Windows. `spent` counts the agent's life. The day window is the UTC day (`day` is days since
/// the epoch); the tick window is the agent's tick number (`tick_count` of its row: spending
/// while tick N+1 runs, or between ticks N and N+1, is tick N+1's window) and moves as ticks commit.
/// A window's spending starts at 0 when it moves. Reservations still open count against every
/// window they are open in, so `spent + reserved` stays within each limit whatever the clock
/// does; a settled cost is counted in the windows current when it settles.
public struct Ledger: Sendable, Equatable {
    public var spent: Int64 = 0
    /// Open reservations, in total.
    public var reserved: Int64 = 0
    public var day: Int64 = 0
    public var daySpent: Int64 = 0
    public var tick: Int64 = 0
    public var tickSpent: Int64 = 0

    public init(spent: Int64 = 0, reserved: Int64 = 0, day: Int64 = 0, daySpent: Int64 = 0, tick: Int64 = 0, tickSpent: Int64 = 0) {
        self.spent = spent
        self.reserved = reserved
        self.day = day
        self.daySpent = daySpent
        self.tick = tick
        self.tickSpent = tickSpent
    }

    public static let dayMs: Int64 = 86_400_000

    /// The UTC day of a time (milliseconds since the epoch), rounding down for times before 1970.
    public static func day(of ms: Int64) -> Int64 { ms >= 0 ? ms / dayMs : -((-ms - 1) / dayMs) - 1 }

    /// Moves the windows to `now` and `tick` (a window only moves forward).
    public mutating func roll(now: Int64, tick: Int64) {
        let today = Self.day(of: now)
        if today > day {
            day = today
            daySpent = 0
        }
        if tick > self.tick {
            self.tick = tick
            tickSpent = 0
        }
    }

    /// Which limit a reservation would pass.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var limit: String
        public var limitValue: Int64
        public var wouldBe: Int64
        public init(limit: String, limitValue: Int64, wouldBe: Int64) {
            self.limit = limit
            self.limitValue = limitValue
            self.wouldBe = wouldBe
        }

        public var description: String {
            "the \(limit) budget of \(Money.format(limitValue)) would be passed (\(Money.format(wouldBe)) with this reservation)"
        }
    }

    /// Reserves `amount` if every limit holds with it: `spent + reserved + amount` within `life`,
    /// the day's and the tick's spending plus everything reserved within theirs, `amount` within
    /// `perJob`. On refusal nothing changes.
    public mutating func reserve(_ amount: Int64, limits: BudgetLimits, now: Int64, tick: Int64) throws(Refusal) {
        roll(now: now, tick: tick)
        let amount = max(0, amount)
        let open = Money.add(reserved, amount)
        let checks: [(String, Int64?, Int64)] = [
            ("per-job", limits.perJob, amount),
            ("per-tick", limits.perTick, Money.add(tickSpent, open)),
            ("per-day", limits.perDay, Money.add(daySpent, open)),
            ("life", limits.life, Money.add(spent, open)),
        ]
        for (name, limit, total) in checks {
            if let limit, total > limit { throw Refusal(limit: name, limitValue: limit, wouldBe: total) }
        }
        reserved = open
    }

    /// Closes a reservation of `amount`, charging `cost` (never more than was reserved: the
    /// reservation is the most a job may cost) in the windows current at `now`/`tick`; returns
    /// what was charged. Releasing is settling at 0.
    @discardableResult
    public mutating func settle(reservation amount: Int64, cost: Int64, now: Int64, tick: Int64) -> Int64 {
        roll(now: now, tick: tick)
        let amount = max(0, amount)
        let charged = min(max(0, cost), amount)
        reserved = max(0, reserved - amount)
        spent = Money.add(spent, charged)
        daySpent = Money.add(daySpent, charged)
        tickSpent = Money.add(tickSpent, charged)
        return charged
    }

    /// `compute/usage`-style JSON, seen from `now`/`tick` (windows that have moved read 0).
    public func usage(now: Int64, tick: Int64) -> JSON {
        var l = self
        l.roll(now: now, tick: tick)
        return .object([
            "reserved": .int64(l.reserved), "spent": .int64(l.spent),
            "per_day": .object(["date": .string(String(Timestamp.iso(l.day * Self.dayMs).prefix(10))), "spent": .int64(l.daySpent),
                                "reserved": .int64(l.reserved)]),
            "per_tick": .object(["tick": .int64(l.tick), "spent": .int64(l.tickSpent), "reserved": .int64(l.reserved)]),
        ])
    }
}

/// Integer micro-USD arithmetic that saturates instead of trapping on client-sized numbers.
public enum Money {
    public static func add(_ a: Int64, _ b: Int64) -> Int64 {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? (b > 0 ? .max : .min) : r
    }

    /// The cost of `tokens` at `pricePerMillion` micro-USD per million tokens, rounded up.
    public static func cost(tokens: Int64, pricePerMillion: Int64) -> Int64 {
        guard tokens > 0, pricePerMillion > 0 else { return 0 }
        let (high, low) = tokens.multipliedFullWidth(by: pricePerMillion)
        guard high == 0, low < UInt64(Int64.max) - 999_999 else { return .max }
        return Int64((low + 999_999) / 1_000_000)
    }

    /// The most tokens `amount` pays for at `pricePerMillion` (prices are at most
    /// `ProviderConfig.maxPrice`); nil for a free price (any number).
    public static func tokensCovered(by amount: Int64, pricePerMillion: Int64) -> Int64? {
        guard pricePerMillion > 0 else { return nil }
        let amount = max(0, amount)
        let whole = amount / pricePerMillion
        guard whole <= Int64.max / 1_000_000 else { return .max }
        return Money.add(whole * 1_000_000, (amount % pricePerMillion) * 1_000_000 / pricePerMillion)
    }

    /// "$0.001234" style, for messages.
    public static func format(_ micro: Int64) -> String {
        let sign = micro < 0 ? "-" : ""
        let m = micro.magnitude
        let frac = String(m % 1_000_000)
        return "\(sign)$\(m / 1_000_000).\(String(repeating: "0", count: 6 - frac.count))\(frac)"
    }
}
