"""The names CRMs and public data sets give a deal's and a lead's fields, and the words their
stage and status values say an outcome with: what `forecast.data.mapping_draft` matches an
unknown export's header and values against (compared ignoring case, spaces, dashes,
underscores and accents)."""

from __future__ import annotations

import re

from forecast.data.attributes import unaccented
from forecast.data.mapping import loose_key
from forecast.data.yes_no import YES_NO_LABELS

#: A record's creation time as CRMs name it in other languages (Zoho's "Created Time" is
#: "Erstellungszeit", "Hora de creación", "Heure de création"), a deal's and a lead's alike.
CREATED_ABROAD = [
    "erstellungszeit", "erstellungsdatum", "erstelltam", "erstellt", "angelegtam", "erstelldatum",
    "anlagedatum", "erstellzeit",
    "datedecreation", "heuredecreation", "creele", "datecreation", "creation",
    "fechadecreacion", "horadecreacion", "fechayhoradecreacion", "fechacreacion", "creadoel",
    "creado",
    "datadecriacao", "datadacriacao", "horadecriacao", "horadacriacao", "datacriacao", "criadoem",
    "criado", "criacao",
    "datadicreazione", "oradicreazione", "dataoradicreazione", "dataoracreazione",
    "datacreazione", "creatoil", "creazione",
    "aangemaaktop", "aanmaakdatum", "gemaaktop",
]  # fmt: skip
#: Deal fields → the names CRMs and data sets give them, most telling first.
DEAL_NAMES: dict[str, list[str]] = {
    "id": [
        "id", "dealid", "opportunityid", "opportunity_id", "recordid", "dealnumber",
        "donotmodifyopportunity",  # Dynamics 365's hidden record id column
    ],
    "stage": [
        "stage", "dealstage", "stagename", "pipelinestage", "salesstage",
        "pipelinephase", "pipelinestagename", "milestone",
        "etape", "phase", "stufe", "vertriebsphase", "verkaufsphase", "etapa", "fase",
    ],
    "amount": [
        "amount", "dealvalue", "value", "closevalue", "dealamount", "dealsize", "revenue",
        "estrevenue", "estimatedrevenue", "estimatedvalue", "bidamount", "opportunityvalue",
        "leadvalue", "monetaryvalue",  # GoHighLevel's opportunities
        "projectedrevenuehigh", "projectedrevenue",  # Keap's opportunities
        "montant", "montantht", "betrag", "auftragswert", "wert", "importe", "valor",
    ],
    "created_at": [
        "createdat", "createdate", "createddate", "created", "creationdate", "createdtime",
        "createdon", "engagedate", "opendate", "addtime", "dateadded", "startdate", "dealcreated",
        "datecreated", "creationlog", "addedon", "dealerstellt", *CREATED_ABROAD,
    ],
    "close_date": [
        "closedate", "closingdate", "schlusstermin", "abschlusstermin", "abschlussdatum",
        "abschluss",
        "datedecloture", "fechadecierre",
    ],
    "closed_at": [
        "closedat", "dateclosed", "closedon", "closeddate", "actualclosedate", "geschlossenam",
        "datedefermeture",
    ],
    "expected_close_at": [
        "expectedclose", "expectedclosedate", "expectedclosingdate", "expectedclosing",
        "estclosedate", "forecastclosedate", "forecastedclosedate",
        "estimatedclosedate", "datedeclotureprevue", "erwartetesabschlussdatum",
        "voraussichtlichesabschlussdatum", "echeance", "clotureprevue", "erwarteterabschluss",
    ],
    "updated_at": [
        "updatedat", "lastmodifieddate", "lastmodified", "modifiedtime", "modifiedat",
        "updatetime", "lastupdated", "updated", "updatedon", "modifiedon", "donotmodifymodifiedon",
        "datemodified", "dateupdated", "updateddate", "lastupdatedon", "modifieddate",
        "zuletztgeandert", "letzteaktualisierung", "aktualisiertam", "zuletztaktualisiertam",
        "dernieremiseajourle", "dernieremiseajour",
        "geandertam", "geandert", "datedemodification", "fechademodificacion",
        "anderungszeit", "horademodificacion", "heuredemodification", "horadamodificacao",
        "datadamodificacao", "oradimodifica", "datadimodifica",
    ],
    "owner": [
        "owner", "dealowner", "opportunityowner", "salesagent", "salesrep", "salesperson",
        "rep", "assignedto", "assigned", "assigneduser", "user", "salesowner", "username",
        "owneruserid", "owneruser", "responsibleuserid", "responsibleperson",
        "responsable", "proprietaire", "commercial", "vendeur", "verantwortlich", "besitzer",
        "propietario", "ownername", "ownerfullname", "dealownername", "opportunityownername",
        "verkaufschanceninhaber", "inhaber", "opportunityinhaber", "verkaufer", "vendedor",
        "venditore",
    ],
    "account": [
        "account", "accountname", "company", "companyname", "customer", "organization",
        "organisation", "orgname", "client", "organizationname", "organisationname",
        "potentialcustomer", "accounts", "party", "associatedcompany",
        "associatedcompanyprimary",
        "compte", "societe", "entreprise", "firma", "unternehmen", "empresa", "cuenta", "kunde",
        "cliente",
    ],
    "team": [
        "team", "salesteam", "manager", "equipecommerciale", "verkaufsteam", "equipodeventas",
    ],
    "region": [
        "region", "territory", "regionaloffice", "salesregion", "regionname", "salesterritory",
        "territoryname",
    ],
    "product": ["product", "productname", "produkt", "produit", "producto", "prodotto"],
    "rep_probability": [
        "probability", "dealprobability", "winprobability", "probabilitypercent",
        "winpercentage", "closeprobability", "confidence",
        "probabilite", "wahrscheinlichkeit", "probabilidad",
    ],
    "forecast_category": ["forecastcategory", "forecastcategoryname"],
    "currency": [
        "currency", "currencycode", "currencyisocode", "currencyofvalue", "bidcurrency",
        "valuecurrency", "wahrung", "devise", "moneda",
    ],
}  # fmt: skip
#: An export's "<record> - <field>" column names (Pipedrive: "Deal - Value", "Organization -
#: Name"): the field's name alone is matched too, where no column is named so in full.
ENTITY_PREFIX = re.compile(r"^\s*[A-Za-z]+\s+-\s+(?P<field>.+)$")
#: A deal's field named after the record ("Deal Value", "Deal Close Date", "Opportunity
#: Amount": ActiveCampaign, SugarCRM): the field's name alone is matched too.
RECORD_PREFIX = re.compile(r"^\s*(?:deal|opportunity|opp)[\s_:.-]+(?P<field>.+)$", re.IGNORECASE)
#: A time zone after a date's name (Insightly's "DATE_CREATED_UTC", "Created (GMT)"): the
#: name without it is matched too.
ZONE_SUFFIX = re.compile(r"^(?P<field>.+?)[\s_-]*\(?(?:UTC|GMT)\)?\s*$", re.IGNORECASE)
#: A Salesforce custom field's API name ("Region__c", "Sales_Region__c"): the name before the
#: suffix is matched too, as a standard field's would be.
CUSTOM_SUFFIX = re.compile(r"^(?P<field>.+?)__c$", re.IGNORECASE)
#: Fields a column may give as the id of the record it refers to ("OwnerId", "Owner ID",
#: "owner_id", "AccountId"): taken only where no column names the field itself (a name reads
#: better in figures per owner than an id).
REFERENCE_FIELDS = ("owner", "account")


def shorter_names(name: str) -> list[str]:
    """Other names a column answers to where no column is named so in full: a Salesforce custom
    field's name without its `__c` ("Sales_Region__c": "Sales_Region"), the field's name after
    a record's ("Deal - Value", "Deal Value": "Value"), before a time zone ("DATE_CREATED_UTC")."""
    custom = CUSTOM_SUFFIX.match(name)
    base = name if custom is None else custom["field"]
    out = [] if custom is None else [base]
    for pattern in (ENTITY_PREFIX, RECORD_PREFIX, ZONE_SUFFIX):
        found = pattern.match(base)
        if found is not None:
            out.append(found["field"])
    return out


#: "Status" in the languages exports come in, and what CRMs call the record it is of (Zoho's
#: lead is a "Posible cliente" in Spanish, a "Prospect" in French): "Estado de Posible cliente",
#: "Lead-Status", "Statut du prospect", "Status do lead" name a status as "Lead Status" does.
STATUS_WORDS = ("status", "statut", "estado", "estatus", "stato", "situacao")
RECORD_WORDS = (
    "lead", "leads", "posiblecliente", "prospect", "prospecto", "prospetto", "clientepotencial",
    "clientepotenziale", "interessent", "interessenten", "deal", "opportunity", "oportunidad",
    "oportunidade", "opportunite", "opportunita", "affaire", "negocio", "trato", "trattativa",
    "verkaufschance",
)  # fmt: skip
#: The little words between them ("de", "del", "du", "do", "da", "di", "des", "der").
OF_WORDS = ("", "de", "del", "dela", "du", "do", "da", "di", "dello", "della", "des", "der")
#: A stage column's other name, taken only where no column is named as a stage.
STATUS_NAMES = [
    "status", "lifecyclestage", "leadstatus", "statuslabel", "statut", "estado", "stato",
    "statolead", "estadolead", "estadodellead", "leadstatut", "opportunitystate", "dealstate",
    "opportunitystatus", "dealstatus",
    "statustype",  # Close's active / won / lost beside its renamable `status_label`
    "estatus", "situacao",
    *dict.fromkeys(
        name
        for word in STATUS_WORDS
        for record in RECORD_WORDS
        for name in (
            *(f"{word}{of}{record}" for of in OF_WORDS),
            f"{record}{word}",
        )
    ),
]  # fmt: skip
#: Lead fields → their names (every other column of a lead file is an attribute).
LEAD_NAMES: dict[str, list[str]] = {
    "id": [
        "id", "leadid", "prospectid", "contactid", "recordid", "leadnumber", "customerid",
        "leadnr", "leadno", "identifiant", "identificador", "codice", "codigo",
    ],
    "converted": [
        "converted", "isconverted", "conversion", "convertedflag", "hasconverted", "label",
        "target", "outcome", "won", "y", "convertedtodeal", "purchased", "bought", "responded",
        "convertedtopaid", "convertedtocustomer", "convertedtopaying", "iscustomer",
        "becamecustomer", "becameacustomer", "qualified", "isqualified",
        "konvertiert", "umgewandelt", "gekauft", "converti", "convertie", "convertido",
        "convertida", "comprado", "convertito", "acquistato",
    ],
    "created_at": [
        "createdat", "createdate", "createddate", "created", "creationdate", "createdtime",
        "datecreated", "createdon", "leadcreated", "signupdate", "signedupat", "signupts",
        "registrationdate", "registeredat", *CREATED_ABROAD,
    ],
    "converted_at": [
        "convertedat", "converteddate", "conversiondate", "becameacustomerdate",
        "becamecustomerdate", "customersince", "customersincedate", "dateconverted",
        "convertedtime", "converteddatetime", "datedeconversion", "konvertiertam",
        "fechadeconversion",
    ],
    # A lead's last change is no input (it tells of activity after the score was wanted).
    "updated_at": DEAL_NAMES["updated_at"],
}  # fmt: skip
WON_TIMES = ["wontime", "wondate", "datewon", "wonat", "gewonnenam"]
LOST_TIMES = ["losttime", "lostdate", "datelost", "lostat", "verlorenam"]
DATE_FIELDS = (
    "created_at", "close_date", "closed_at", "expected_close_at", "updated_at", "converted_at",
)  # fmt: skip
WON_WORDS = (
    "won", "win", "success", "closedwon", "gagne", "gagnee", "gewonnen", "ganado", "ganada",
)  # fmt: skip
LOST_WORDS = (
    "lost", "lose", "closedlost", "dead", "failed", "failure", "abandoned", "cancelled",
    "canceled",
    "rejected", "declined", "disqualified", "perdu", "perdue", "verloren", "perdido", "perdida",
    "annule", "annulee", "abandonne", "abandonnee", "storniert", "cancelado", "cancelada",
)  # fmt: skip
#: A deal's status saying it was deleted: a record the CRM keeps but no longer counts (Pipedrive's
#: "deleted", a trash's), neither open nor lost: a draft leaves its rows out (`skip_rows`).
DELETED_WORDS = (
    "deleted", "removed", "trashed", "purged", "supprime", "supprimee", "efface", "effacee",
    "geloscht", "geloescht", "entfernt", "eliminado", "eliminada", "borrado", "borrada",
    "eliminato", "eliminata", "excluido", "excluida", "apagado", "apagada", "verwijderd",
)  # fmt: skip
#: Label values the import reads as 0/1 as they are (`yes_no.YES_NO_LABELS`).
YES_NO = frozenset(YES_NO_LABELS)
CONVERTED_WORDS = (
    "converted", "won", "customer", "closedwon", "sale", "evangelist",
    "converti", "convertie", "konvertiert", "convertido", "convertida", "gagne", "gewonnen",
    "ganado", "ganada", "cliente", "vinto", "vinta", "convertito", "convertita", "kunde",
)  # fmt: skip
#: Words that say converted only as the whole status: "Qualified" is an outcome, while "Sales
#: Qualified", "Marketing Qualified" and "Pre-Qualified" are steps of the funnel before it.
CONVERTED_ALONE = (
    "qualified", "yes", "qualifie", "qualifiziert", "cualificado", "calificado", "qualificato",
)  # fmt: skip
#: How a column named as an id ends (or it starts with "id": "ID Prospecto").
ID_ENDINGS = (
    "id", "number", "key", "codice", "codigo", "nr", "nummer", "numero", "ref", "reference",
)  # fmt: skip
#: A lead's email column: its id where the export has none and no two leads share one.
EMAIL_NAMES = ["email", "emailaddress", "mail", "correo", "correoelectronico", "courriel"]
NOT_CONVERTED_WORDS = (
    "notconverted", "unconverted", "lost", "closedlost", "disqualified", "unqualified",
    "rejected", "junk", "dead", "no", "perdu", "perdue", "verloren", "perdido", "perdida",
    "descartado", "descartada", "rechazado", "perso", "persa", "scartato", "abgelehnt",
    "spam", "basura", "indesirable", "lixo",  # junk: Zoho's "Posible cliente basura"
)  # fmt: skip
#: A first word that turns a converted word around ("Not Qualified", "Non converted").
NEGATIONS = ("not", "non", "no", "nicht", "kein")


#: What exports call a lead and a deal where their columns are named after the record
#: (Pipedrive's "Lead - Title", "Lead created"; Zoho's "Fuente de Posible cliente").
LEAD_RECORDS = (
    "lead", "leads", "prospect", "prospects", "prospecto", "prospectos", "interessent",
    "interessenten", "posiblecliente", "clientepotencial", "clientepotenziale",
)  # fmt: skip
DEAL_RECORDS = (
    "deal", "deals", "opportunity", "opportunities", "opp", "oportunidad", "oportunidade",
    "opportunite", "opportunita", "affaire", "verkaufschance", "negocio", "trato",
)  # fmt: skip


def names_leads(names: list[str]) -> bool:
    """Whether more of a header's columns are named after a lead than after a deal (their
    first or last words: "Lead - Title", "Lead created" beside "Person - Name"): a leads
    export that holds no outcome (Pipedrive's leads), told from a deal export without a stage."""
    leads = sum(_named_after(n, LEAD_RECORDS) for n in names)
    return leads > sum(_named_after(n, DEAL_RECORDS) for n in names)


def _named_after(name: str, records: tuple[str, ...]) -> bool:
    """Whether a column's first or last words name one of `records` ("Lead - Source",
    "Fuente de Posible cliente"), whole words only ("Leadership" names no lead)."""
    words = re.findall(r"[^\W\d_]+", unaccented(name).casefold())
    runs = {"".join(words[:i]) for i in range(1, 3)} | {"".join(words[-i:]) for i in range(1, 3)}
    return not runs.isdisjoint(records)


def matched(names: list[str], wanted: dict[str, list[str]]) -> dict[str, str]:
    """Each field's column: the first whose name is one of the field's names, compared
    loosely; else a shorter name's (`shorter_names`); else, for an owner or an account, a
    column naming its id; a column goes to one field, fields in `wanted`'s order."""
    loose = {name_key(n): n for n in reversed(names)}  # the first of equal names wins
    # "Deal - Won time" (Pipedrive) is also "Won time", "DATE_CREATED_UTC" "DATE_CREATED": the
    # first such column in file order (a deal's own, listed before its organisation's), after
    # every name in full.
    stripped: dict[str, str] = {}
    for n in names:
        for short in shorter_names(n):
            stripped.setdefault(name_key(short), n)
    # "OwnerId", "Owner ID", "owner_id": an owner's or an account's id, after every name.
    referred: dict[str, str] = {}
    for n in names:
        for key in (name_key(n), *map(name_key, shorter_names(n))):
            if len(key) > 2 and key.endswith("id"):
                referred.setdefault(key.removesuffix("id"), n)
    taken: set[str] = set()
    out: dict[str, str] = {}
    for f, candidates in wanted.items():
        for names_of in (loose, stripped, referred if f in REFERENCE_FIELDS else {}):
            found = [names_of.get(name_key(c)) for c in candidates]
            column = next((c for c in found if c is not None and c not in taken), None)
            if column is not None:
                out[f] = column
                taken.add(column)
                break
    return out


def id_checks(columns: dict[str, str]) -> list[str]:
    """What a draft says of an owner or an account read from an id column ("OwnerId"): the
    figures per owner would name ids, so a column of names, where the export has one, is better."""
    return [
        f"{column!r} read as the {f}: an id, so figures per {f} name ids (map a column of "
        "names instead if the export has one)"
        for f, column in columns.items()
        if f in REFERENCE_FIELDS
        and any(k.endswith("id") for k in map(name_key, (column, *shorter_names(column))))
    ]


def name_key(name: object) -> str:
    """A name as `loose_key` compares it, accents dropped too: "Étape" is "etape", "Date de
    clôture" "datedecloture", as the names listed here are written."""
    return loose_key(unaccented(str(name)))
