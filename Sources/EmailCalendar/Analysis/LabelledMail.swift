import CRM
public import Foundation

/// A labelled set of messages and how well an analyser reads it: sentiment label accuracy,
/// intent accuracy, per-intent precision, recall and F1, and the intents' macro-F1.
///
/// The set's text form is one message per line, `intent|sentiment|subject|body`; `#` starts a
/// comment. Messages 3k+2 (counting from 0) are the test part, the rest the training part.
public enum LabelledMail {
    public struct Example: Sendable, Hashable {
        public var intent: MailIntent
        public var sentiment: SentimentLabel
        public var subject: String
        public var body: String
    }

    public struct Problem: Error, CustomStringConvertible {
        public var line: Int
        public var text: String
        public var description: String { "labelled mail line \(line): \(text)" }
    }

    public static func parse(_ text: String) throws -> [Example] {
        var examples: [Example] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let fields = trimmed.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let intent = MailIntent(rawValue: fields[0]), let sentiment = SentimentLabel(rawValue: fields[1]) else {
                throw Problem(line: number + 1, text: "expected intent|sentiment|subject|body with a known intent and sentiment")
            }
            examples.append(Example(intent: intent, sentiment: sentiment, subject: fields[2], body: fields[3]))
        }
        return examples
    }

    /// (training, test): every third message, from the third, is for testing.
    public static func split(_ examples: [Example]) -> (training: [Example], test: [Example]) {
        let indexed = examples.enumerated()
        return (indexed.filter { $0.offset % 3 != 2 }.map(\.element), indexed.filter { $0.offset % 3 == 2 }.map(\.element))
    }

    public struct ClassScore: Sendable, Hashable {
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    public struct Report: Sendable {
        public var count: Int
        public var sentimentAccuracy: Double
        public var intentAccuracy: Double
        public var intents: [MailIntent: ClassScore]
        public var sentiments: [SentimentLabel: ClassScore]
        /// The mean of the intents' F1.
        public var intentMacroF1: Double
        /// What was read wrong: (example, intent read, sentiment read).
        public var mistakes: [(Example, MailIntent, SentimentLabel)]
    }

    public static func evaluate(_ examples: [Example], with analyser: LocalMailAnalyser = LocalMailAnalyser()) -> Report {
        var intentPairs: [(MailIntent, MailIntent)] = []
        var sentimentPairs: [(SentimentLabel, SentimentLabel)] = []
        var mistakes: [(Example, MailIntent, SentimentLabel)] = []
        for example in examples {
            let read = analyser.analyse(subject: example.subject, body: example.body)
            let intent = MailIntent(rawValue: read.intent) ?? .other
            let sentiment = SentimentLabel(rawValue: read.sentiment) ?? .neutral
            intentPairs.append((example.intent, intent))
            sentimentPairs.append((example.sentiment, sentiment))
            if intent != example.intent || sentiment != example.sentiment { mistakes.append((example, intent, sentiment)) }
        }
        let intents = scores(intentPairs, classes: MailIntent.allCases)
        return Report(
            count: examples.count,
            sentimentAccuracy: accuracy(sentimentPairs), intentAccuracy: accuracy(intentPairs),
            intents: intents, sentiments: scores(sentimentPairs, classes: SentimentLabel.allCases),
            intentMacroF1: intents.values.map(\.f1).reduce(0, +) / Double(max(1, intents.count)), mistakes: mistakes)
    }

    static func accuracy<T: Equatable>(_ pairs: [(T, T)]) -> Double {
        pairs.isEmpty ? 0 : Double(pairs.filter { $0.0 == $0.1 }.count) / Double(pairs.count)
    }

    static func scores<T: Hashable>(_ pairs: [(expected: T, read: T)], classes: [T]) -> [T: ClassScore] {
        var result: [T: ClassScore] = [:]
        for c in classes {
            let truePositives = Double(pairs.filter { $0.expected == c && $0.read == c }.count)
            let predicted = Double(pairs.filter { $0.read == c }.count)
            let actual = pairs.filter { $0.expected == c }.count
            let precision = predicted == 0 ? 0 : truePositives / predicted
            let recall = actual == 0 ? 0 : truePositives / Double(actual)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            result[c] = ClassScore(precision: precision, recall: recall, f1: f1, support: actual)
        }
        return result
    }
}
