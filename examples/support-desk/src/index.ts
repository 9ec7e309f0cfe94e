export { createSupportDeskServer, SUPPORT_DESK_TOOLS } from './support-desk.js';
export type { RecordedCall, SupportDeskOptions, SupportDeskTool } from './support-desk.js';
export { HOSTILE_TICKET_ID, seedCustomers, seedTickets } from './desk-data.js';
export type { Customer, Ticket } from './desk-data.js';
