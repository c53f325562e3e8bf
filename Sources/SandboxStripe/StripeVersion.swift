/// A Stripe API version such as `2025-03-31.basil`. The payload shape changed at basil.
public struct StripeVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// The first version with per-item subscription periods and `invoice.parent`.
    public static let basil = StripeVersion("2025-03-31.basil")
    /// The version the sandbox's account defaults to.
    public static let current = StripeVersion("2026-10-28.endive")
    /// The last version before basil.
    public static let acacia = StripeVersion("2024-12-18.acacia")

    /// Versions order by their date prefix.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue.prefix(10) < rhs.rawValue.prefix(10) }

    public var hasBasilShapes: Bool { self >= .basil }
    public var description: String { rawValue }
}
