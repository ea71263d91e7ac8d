-- Whether a ticket is unread for a user in a list was an EXISTS over `ticket_activity`, a row
-- per event (5,500,000 at a million tickets) written by a projection of its own: a second
-- projector transaction per batch of events, and a rebuild's largest table. The ticket view
-- has kept, since 20261206050000, who acted on each ticket last and the latest event by anyone
-- else, with and without internal events, which gives the latest event by someone other than
-- any user: lists now read that, as `/me` already did.
DROP TABLE ticket_activity;
DELETE FROM projection_checkpoints WHERE name = 'ticket_activity';
