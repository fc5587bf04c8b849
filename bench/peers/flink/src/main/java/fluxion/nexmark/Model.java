package fluxion.nexmark;

/**
 * Nexmark's events and the queries' result rows, as Flink POJOs (public fields, no-arg
 * constructors). Mirrors bench/nexmark/model.ts; an Event holds exactly one of person, auction, bid.
 */
public final class Model {
  private Model() {}

  public static final int PERSON = 0;
  public static final int AUCTION = 1;
  public static final int BID = 2;

  public static class Person {
    public long id;
    public String name;
    public String emailAddress;
    public String creditCard;
    public String city;
    public String state;
    public long dateTime;
    public String extra;

    public Person() {}
  }

  public static class Auction {
    public long id;
    public String itemName;
    public String description;
    public long initialBid;
    public long reserve;
    public long dateTime;
    public long expires;
    public long seller;
    public long category;
    public String extra;

    public Auction() {}
  }

  public static class Bid {
    public long auction;
    public long bidder;
    public long price;
    public long dateTime;
    public String extra;

    public Bid() {}
  }

  public static class Event {
    public int kind;
    public Person person;
    public Auction auction;
    public Bid bid;

    public Event() {}

    public long dateTime() {
      return kind == BID ? bid.dateTime : kind == AUCTION ? auction.dateTime : person.dateTime;
    }

    /** The JSON of bench/nexmark/generator.ts eventToJson (same field order). */
    public String toJson() {
      StringBuilder sb = new StringBuilder(256);
      if (kind == PERSON) {
        Person p = person;
        sb.append("{\"kind\":\"person\",\"id\":").append(p.id);
        str(sb, "name", p.name);
        str(sb, "emailAddress", p.emailAddress);
        str(sb, "creditCard", p.creditCard);
        str(sb, "city", p.city);
        str(sb, "state", p.state);
        sb.append(",\"dateTime\":").append(p.dateTime);
        str(sb, "extra", p.extra);
      } else if (kind == AUCTION) {
        Auction a = auction;
        sb.append("{\"kind\":\"auction\",\"id\":").append(a.id);
        str(sb, "itemName", a.itemName);
        str(sb, "description", a.description);
        sb.append(",\"initialBid\":").append(a.initialBid);
        sb.append(",\"reserve\":").append(a.reserve);
        sb.append(",\"dateTime\":").append(a.dateTime);
        sb.append(",\"expires\":").append(a.expires);
        sb.append(",\"seller\":").append(a.seller);
        sb.append(",\"category\":").append(a.category);
        str(sb, "extra", a.extra);
      } else {
        Bid b = bid;
        sb.append("{\"kind\":\"bid\",\"auction\":").append(b.auction);
        sb.append(",\"bidder\":").append(b.bidder);
        sb.append(",\"price\":").append(b.price);
        sb.append(",\"dateTime\":").append(b.dateTime);
        str(sb, "extra", b.extra);
      }
      return sb.append('}').toString();
    }

    private static void str(StringBuilder sb, String name, String value) {
      sb.append(",\"").append(name).append("\":\"");
      for (int i = 0; i < value.length(); i++) {
        char c = value.charAt(i);
        if (c == '"' || c == '\\') sb.append('\\');
        sb.append(c);
      }
      sb.append('"');
    }
  }

  // ---- result rows -------------------------------------------------------------------------

  /** q0, q7. */
  public static class BidRow {
    public long auction;
    public long bidder;
    public long price;
    public long dateTime;
    public String extra;

    public BidRow() {}

    public static BidRow of(Bid b) {
      BidRow r = new BidRow();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.dateTime = b.dateTime;
      r.extra = b.extra;
      return r;
    }
  }

  /** q1. */
  public static class EuroBidRow {
    public long auction;
    public long bidder;
    public double price;
    public long dateTime;
    public String extra;

    public EuroBidRow() {}
  }

  /** q2. */
  public static class AuctionPrice {
    public long auction;
    public long price;

    public AuctionPrice() {}
  }

  /** q3. */
  public static class LocalItem {
    public String name;
    public String city;
    public String state;
    public long id;

    public LocalItem() {}
  }

  /** q4: an auction closed with its winning price. */
  public static class ClosedAuction {
    public long auction;
    public long category;
    public long fin;
    public long expires;

    public ClosedAuction() {}
  }

  /** q4 result row (category, average). */
  public static class CategoryAverage {
    public long id;
    public long fin;

    public CategoryAverage() {}
  }

  /** q5 intermediate and result. */
  public static class AuctionCount {
    public long auction;
    public long num;
    public long end;

    public AuctionCount() {}
  }

  public static class HotItem {
    public long auction;
    public long num;

    public HotItem() {}
  }

  /** q8. */
  public static class SellerWindow {
    public long seller;
    public long start;

    public SellerWindow() {}
  }

  public static class NewUser {
    public long id;
    public String name;
    public long stime;

    public NewUser() {}
  }

  /** q11, q12. */
  public static class BidderCount {
    public long bidder;
    public long bidCount;
    public long starttime;
    public long endtime;

    public BidderCount() {}
  }
}
