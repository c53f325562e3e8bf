import CRM
import EmailCalendar
import Foundation
import TestSupport
import Testing

/// The offline analysers: the rules each do what their documentation says, and on the held-out
/// part of the project's labelled mail they meet the targets.
@Suite(.hangGuard) struct MailAnalysisTests {
    static let labelled = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/labelled-mail.txt")

    @Test func negationIntensifiersAndButChangeTheScoreAsDocumented() {
        let happy = SentimentLexicon.score("We are happy with the rollout.")
        let veryHappy = SentimentLexicon.score("We are very happy with the rollout.")
        let notHappy = SentimentLexicon.score("We are not happy with the rollout.")
        #expect(happy.label == .positive && veryHappy.score > happy.score)
        #expect(notHappy.label == .negative && notHappy.cues == ["not … happy -1.6"])
        // What follows "but" outweighs what precedes it.
        #expect(SentimentLexicon.score("The demo was great but the sync is broken and slow.").label == .negative)
        #expect(SentimentLexicon.score("Please send the order form.").label == .neutral)
        #expect(SentimentLexicon.score("Thanks!").score > 0 && SentimentLexicon.score("Thanks!").label == .neutral, "politeness alone is not enthusiasm")
        let angry = SentimentLexicon.score("This is unacceptable!!!")
        #expect(angry.score < SentimentLexicon.score("This is unacceptable").score && angry.score > -1)
    }

    @Test func intentsKeepTheCuesThatDecidedThem() {
        let ooo = IntentRules.classify(subject: "Automatic reply: Proposal", body: "I'm on vacation until 3 June and will reply when I return.")
        #expect(ooo.intent == .outOfOffice && ooo.cues.contains("automatic reply") && ooo.cues.contains("on vacation"))
        let refusal = IntentRules.classify(subject: "Re: offer", body: "Thanks, but we are not interested. Please remove me from your list.")
        #expect(refusal.intent == .notInterested && refusal.cues.contains("not interested"))
        let pricing = LocalMailAnalyser().analyse(subject: "Quote", body: "How much would 40 seats cost per year?")
        #expect(pricing.intent == "pricing_interest" && pricing.intentCues.contains("how much"))
        let nothing = IntentRules.classify(subject: "Hi", body: "Hope you are well.")
        #expect(nothing.intent == .other && nothing.cues.isEmpty)
    }

    @Test func theHeldOutPartOfTheLabelledSetMeetsTheTargets() throws {
        let examples = try LabelledMail.parse(String(contentsOf: Self.labelled, encoding: .utf8))
        #expect(examples.count >= 300)
        let (training, test) = LabelledMail.split(examples)
        #expect(test.count >= 100 && training.count + test.count == examples.count)
        #expect(Set(test.map(\.intent)) == Set(MailIntent.allCases), "every intent is tested")
        let report = LabelledMail.evaluate(test)
        #expect(report.sentimentAccuracy >= 0.8, "sentiment label accuracy \(report.sentimentAccuracy)")
        #expect(report.intentMacroF1 >= 0.7, "intent macro-F1 \(report.intentMacroF1)")
    }

    @Test func aMalformedLabelledLineIsReportedWithItsNumber() {
        #expect(throws: LabelledMail.Problem.self) { _ = try LabelledMail.parse("# comment\nmeeting_request|happy|s|b\n") }
        #expect(throws: LabelledMail.Problem.self) { _ = try LabelledMail.parse("meeting_request|neutral|only three") }
    }
}
