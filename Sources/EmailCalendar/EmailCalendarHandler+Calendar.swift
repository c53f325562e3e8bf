import CRM
import Foundation
import Logging
public import Messages
import Platform
import Postgres
public import RPC

/// Meetings made in the CRM, on the owner's Google calendar: on a user's call (`CreateMeeting`),
/// and as the CRM changes them (the gateway relays `meeting.changed`).
extension EmailCalendarHandler {
    public func createMeeting(_ request: EmailCalendarV1.CreateMeetingRequest, context: ServerContext) async throws -> EmailCalendarV1.CreateMeetingResponse {
        let workspace = try context.workspace()
        guard let meetingID = UUID(uuidString: request.meetingID) else { throw RPCError(.invalidArgument, "meeting_id is not a UUID") }
        guard let draft = try await db.withConnection({ try await Meetings.draft(meetingID, workspace: workspace, in: $0) }) else {
            throw RPCError(.notFound, "no meeting \(meetingID) in this workspace")
        }
        let connection = try await calendars.named(request.connectionID, workspace: workspace).connection
        let event = try await put(draft, on: connection, workspace: workspace, context: context)
        var response = EmailCalendarV1.CreateMeetingResponse()
        response.eventID = event.eventID
        response.conferenceURL = event.conferenceURL ?? ""
        return response
    }

    /// A CRM meeting made, edited or cancelled (`meeting.changed`, relayed by the gateway): the
    /// workspace's calendar follows — the event created, patched or cancelled. A workspace with no
    /// calendar, or several (the user chooses with `CreateMeeting`), is left as it is.
    func meetingChanged(_ meetingID: UUID, workspace: UUID, context: ServerContext) async throws {
        guard let draft = try await db.withConnection({ try await Meetings.draft(meetingID, workspace: workspace, in: $0) }),
              draft.source == nil else { return }  // deleted since, or read from a calendar (it follows the calendar)
        let connection: UUID
        do {
            connection = try await calendars.named("", workspace: workspace).connection
        } catch let error as RPCError where [.notFound, .invalidArgument].contains(error.code) {
            logger.notice("a CRM meeting stays off the calendar", metadata: ["meeting": "\(meetingID)", "reason": "\(error.message)"])
            return
        }
        switch (draft.status, draft.calendarEventID) {
        case ("cancelled", let event?):
            try await run(connection, .calendars) { try await calendar(connection, context).cancel(eventID: event) }
        case ("cancelled", nil):
            break
        case (_, let event?):
            _ = try await run(connection, .calendars) { try await calendar(connection, context).update(draft, eventID: event) }
        case (_, nil):
            _ = try await put(draft, on: connection, workspace: workspace, context: context)
        }
    }

    /// Creates the event once: its id is derived from the meeting's, so a retry (or a second call)
    /// finds the event Google already has; the Meet link is requested with the meeting id as the
    /// request id. The event id and link are stored on the meeting, so the notification that
    /// follows updates this meeting rather than adding one.
    private func put(_ draft: Meetings.Draft, on connection: UUID, workspace: UUID, context: ServerContext) async throws -> CalendarMeeting {
        if let event = draft.calendarEventID {  // made before
            return CalendarMeeting(eventID: event, title: draft.title, startsAt: draft.startsAt, endsAt: draft.endsAt, conferenceURL: draft.conferenceURL)
        }
        let event = try await run(connection, .calendars) {
            try await calendar(connection, context).insert(draft, eventID: CalendarClient.eventID(for: draft.id), requestID: draft.id.uuidString.lowercased())
        }
        try await db.withConnection { try await Meetings.linkEvent(draft.id, eventID: event.eventID, conferenceURL: event.conferenceURL, workspace: workspace, in: $0) }
        logger.info("meeting created on the calendar", metadata: ["meeting": "\(draft.id)", "event": "\(event.eventID)"])
        return event
    }
}
