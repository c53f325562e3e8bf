public import CRM

/// Reads a message's tone and what its writer wants, for the CRM's timeline and scores.
///
/// `LocalMailAnalyser` does it offline with rules (`SentimentLexicon`, `IntentRules`); a hosted
/// model can stand in for it later behind the same protocol. Every result keeps the cues that
/// decided it, so a user can see why a mail was read as it was.
public protocol MailAnalyser: Sendable {
    func analyse(subject: String, body: String) async throws -> MailAnalysis
}

/// The offline analyser: a valence lexicon with negation, intensifier and contrast rules for
/// sentiment, weighted cue phrases for intent. Deterministic, microseconds per message.
public struct LocalMailAnalyser: MailAnalyser {
    public init() {}

    public func analyse(subject: String, body: String) -> MailAnalysis {
        let sentiment = SentimentLexicon.score(subject + ". " + body)
        let intent = IntentRules.classify(subject: subject, body: body)
        return MailAnalysis(sentimentScore: sentiment.score, sentiment: sentiment.label.rawValue, sentimentCues: sentiment.cues,
                            intent: intent.intent.rawValue, intentCues: intent.cues)
    }
}

/// The fixed set of intents, each documented by its cues in `IntentRules`.
public enum MailIntent: String, Sendable, Hashable, CaseIterable {
    /// Asks for a call, a meeting, a demo or another time to talk.
    case meetingRequest = "meeting_request"
    /// Asks what something costs, for a quote, or how to buy.
    case pricingInterest = "pricing_interest"
    /// Something does not work, or the writer needs help using the product.
    case supportProblem = "support_problem"
    /// Dissatisfaction with the company: service, billing, people, promises.
    case complaint
    /// Declines, unsubscribes, asks not to be contacted.
    case notInterested = "not_interested"
    /// An automatic absence reply.
    case outOfOffice = "out_of_office"
    /// Anything else: thanks, updates, documents, introductions.
    case other
}

/// The sentiment labels and where `SentimentLexicon` draws their lines.
public enum SentimentLabel: String, Sendable, Hashable, CaseIterable {
    case positive, neutral, negative
}
