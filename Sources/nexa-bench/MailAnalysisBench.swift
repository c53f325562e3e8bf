import ArgumentParser
import EmailCalendar
import Foundation

/// `nexa-bench mail-analysis`: the offline sentiment and intent analysers on the project's
/// labelled mail, training and test parts apart (the rules were written from the training part):
/// sentiment label accuracy, intent accuracy, per-intent F1 and macro-F1, against their targets.
struct MailAnalysisBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mail-analysis")
    @Option(help: "The labelled set.") var file = "Tests/EmailCalendarTests/Fixtures/labelled-mail.txt"
    @Flag(help: "List what the test part's messages were read as when wrong.") var mistakes = false
    @Flag(help: "List the training part's mistakes (for writing rules).") var trainingMistakes = false

    func run() async throws {
        let (training, test) = LabelledMail.split(try LabelledMail.parse(String(contentsOfFile: file, encoding: .utf8)))
        for (name, part, show) in [("training", training, trainingMistakes), ("test", test, mistakes)] {
            let report = LabelledMail.evaluate(part)
            print(String(format: "mail analysis, %@ part (%d messages): sentiment accuracy %.1f%% (target >= 80%%: %@)   intent accuracy %.1f%%   intent macro-F1 %.3f (target >= 0.7: %@)",
                         name, report.count, report.sentimentAccuracy * 100, report.sentimentAccuracy >= 0.8 ? "met" : "NOT met",
                         report.intentAccuracy * 100, report.intentMacroF1, report.intentMacroF1 >= 0.7 ? "met" : "NOT met"))
            print("  intent F1: " + MailIntent.allCases.map { String(format: "%@ %.2f (n=%d)", $0.rawValue, report.intents[$0]!.f1, report.intents[$0]!.support) }.joined(separator: ", "))
            print("  sentiment F1: " + SentimentLabel.allCases.map { String(format: "%@ %.2f (n=%d)", $0.rawValue, report.sentiments[$0]!.f1, report.sentiments[$0]!.support) }.joined(separator: ", "))
            if show {
                for (example, intent, sentiment) in report.mistakes {
                    let score = SentimentLexicon.score(example.subject + ". " + example.body).score
                    print("  \(example.intent.rawValue)->\(intent.rawValue)  \(example.sentiment.rawValue)->\(sentiment.rawValue) (\(score))  \(example.subject) | \(example.body)")
                }
            }
        }
    }
}
