import CRM
import Foundation
import Logging
public import Messages
import Platform
import Postgres
public import RPC

/// The users' calendar methods: a meeting made in the CRM, put on the owner's Google calendar.
extension EmailCalendarHandler {
    /// Creates the event once: its id is derived from the meeting's, so a retry (or a second call)
    /// finds the event Google already has; the Meet link is requested with the meeting id as the
    /// request id. The event id and link are stored on the meeting, so the push that follows
    /// updates this meeting rather than adding one.
    public func createMeeting(_ request: EmailCalendarV1.CreateMeetingRequest, context: ServerContext) async throws -> EmailCalendarV1.CreateMeetingResponse {
        let workspace = try context.workspace()
        guard let meetingID = UUID(uuidString: request.meetingID) else { throw RPCError(.invalidArgument, "meeting_id is not a UUID") }
        guard let draft = try await db.withConnection({ try await Meetings.draft(meetingID, workspace: workspace, in: $0) }) else {
            throw RPCError(.notFound, "no meeting \(meetingID) in this workspace")
        }
        let connection = try await calendars.named(request.connectionID, workspace: workspace).connection
        var response = EmailCalendarV1.CreateMeetingResponse()
        if let event = draft.calendarEventID {  // made before
            response.eventID = event
            response.conferenceURL = draft.conferenceURL ?? ""
            return response
        }
        let event = try await run(connection, .calendars) {
            try await calendar(connection, context).insert(draft, eventID: CalendarClient.eventID(for: meetingID), requestID: meetingID.uuidString.lowercased())
        }
        try await db.withConnection { try await Meetings.linkEvent(meetingID, eventID: event.eventID, conferenceURL: event.conferenceURL, workspace: workspace, in: $0) }
        logger.info("meeting created on the calendar", metadata: ["meeting": "\(meetingID)", "event": "\(event.eventID)"])
        response.eventID = event.eventID
        response.conferenceURL = event.conferenceURL ?? ""
        return response
    }
}
