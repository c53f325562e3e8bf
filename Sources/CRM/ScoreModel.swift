public import Foundation

/// The engagement and lead score model, in one place: each factor, its points and its cap, so a
/// score is deterministic from stored activity and explains itself line by line.
///
/// | factor | points | cap |
/// |---|---|---|
/// | email replies (mail from them) | 10 each | 30 |
/// | meetings | 15 each | 30 |
/// | campaign clicks | 5 each | 20 |
/// | campaign opens (weak: Apple Mail Privacy Protection opens every mail it receives) | 1 each | 5 |
/// | recency of the last of those | 15 within 7 days, 8 within 30, 3 within 90 | |
/// | lead status (lead score only) | qualified +20, contacted +5, unqualified −20 | |
/// | company known (lead score only) | +5 | |
///
/// The total is the sum, bounded to 0–100.
public struct ScoreModel: Sendable {
    /// One counted factor.
    public struct Factor: Sendable, Hashable {
        public var name: String
        public var pointsEach: Int
        public var cap: Int
    }

    public var replies = Factor(name: "email replies", pointsEach: 10, cap: 30)
    public var meetings = Factor(name: "meetings", pointsEach: 15, cap: 30)
    public var clicks = Factor(name: "campaign clicks", pointsEach: 5, cap: 20)
    public var opens = Factor(name: "campaign opens", pointsEach: 1, cap: 5)
    /// (within days, points), nearest first.
    public var recency: [(days: Int, points: Int)] = [(7, 15), (30, 8), (90, 3)]
    public var leadStatus: [String: Int] = ["qualified": 20, "contacted": 5, "unqualified": -20]
    public var companyKnown = 5

    public static let standard = ScoreModel()

    /// What the model counts of a person's stored activity.
    public struct Activity: Sendable, Hashable {
        public var replies = 0
        public var meetings = 0
        public var clicks = 0
        public var opens = 0
        /// The newest of those.
        public var lastInteraction: Date?

        public init(replies: Int = 0, meetings: Int = 0, clicks: Int = 0, opens: Int = 0, lastInteraction: Date? = nil) {
            self.replies = replies
            self.meetings = meetings
            self.clicks = clicks
            self.opens = opens
            self.lastInteraction = lastInteraction
        }
    }

    /// The engagement score of `activity` as of `now`.
    public func engagement(_ activity: Activity, asOf now: Date) -> ScoreBreakdown {
        var lines = [
            line(replies, activity.replies), line(meetings, activity.meetings), line(clicks, activity.clicks), line(opens, activity.opens),
        ]
        if let last = activity.lastInteraction {
            let days = Int((now.timeIntervalSince(last) / 86_400).rounded(.down))
            let points = recency.first { days <= $0.days }?.points ?? 0
            lines.append(ScoreBreakdown.Line(factor: "last interaction \(max(0, days)) days ago", count: 1, points: points))
        }
        return ScoreBreakdown(lines: lines)
    }

    /// The lead score: engagement, then the lead's status and whether its company is known.
    public func lead(_ activity: Activity, status: String, hasCompany: Bool, asOf now: Date) -> ScoreBreakdown {
        var breakdown = engagement(activity, asOf: now)
        breakdown.lines.append(ScoreBreakdown.Line(factor: "status \(status)", count: 1, points: leadStatus[status] ?? 0))
        breakdown.lines.append(ScoreBreakdown.Line(factor: "company known", count: hasCompany ? 1 : 0, points: hasCompany ? companyKnown : 0))
        return breakdown
    }

    private func line(_ factor: Factor, _ count: Int) -> ScoreBreakdown.Line {
        ScoreBreakdown.Line(factor: factor.name, count: count, points: min(factor.cap, count * factor.pointsEach))
    }
}

/// A score and the lines it adds up from.
public struct ScoreBreakdown: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        public var factor: String
        public var count: Int
        public var points: Int
    }

    public var lines: [Line]
    /// The lines' sum, bounded to 0–100.
    public var total: Int { min(100, max(0, lines.reduce(0) { $0 + $1.points })) }
}
